/**
 * Keeps secrets out of what sluice shows and sends: views (`get`, history, analysis),
 * events, notification and webhook bodies, and its own log. A rollout's env is its
 * configuration, so secrets sit next to harmless values; which is which is told by name
 * (`DB_PASSWORD`, `API_TOKEN`…), by place (everything under `secretEnv`, a webhook's
 * `secret`, an `Authorization` header) and by shape (the password of a `scheme://user:pw@host`
 * URL). Redaction is for display only: what runs (the instances' env) is untouched.
 */

export const REDACTED = '<redacted>';

/** Env and header names whose values are secrets. Over-matching (`MONKEY`) only hides a value. */
const SECRET_NAME = /PASSWORD|PASSWD|PWD|SECRET|TOKEN|KEY|CREDENTIAL|PRIVATE|AUTH|COOKIE|SESSION|DSN|SIGNATURE/i;

/** Values shorter than this are not replaced inside other text (they would match everywhere). */
const MIN_SECRET_LENGTH = 4;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** `scheme://user:password@host` → `scheme://user:<redacted>@host`. */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*):([^\s@/?#]+)@/gi;

/**
 * `NAME=value` and `"NAME": "value"` in free text (event messages, log lines). A bare
 * `NAME: text` is prose as often as not ("set +DB_PASSWORD: revision 2 created"); YAML
 * sources are covered by the values found in their spec instead.
 */
const NAMED_VALUE = /(["']?)([A-Za-z_][A-Za-z0-9_.-]*)\1([ \t]*=[ \t]*|(?<=["'])[ \t]*:[ \t]*)("[^"\n]*"|'[^'\n]*'|[^\s,;&"'}\]]+)/g;

/**
 * In free text only env-style names (`DB_PASSWORD`) and a few exact words count: lowercase
 * YAML keys such as `cookie:` or `key:` are spec structure, not secrets.
 */
function isSecretTextName(name: string): boolean {
  return (/^[A-Z0-9_]+$/.test(name) && isSecretName(name)) || /^(password|passwd|secret|token|api[-_]?key|authorization)$/i.test(name);
}

/** Patterns only: secret-named `NAME=value` pairs and URL passwords. */
export function redactText(text: string): string {
  return text
    .replace(URL_PASSWORD, `$1:${REDACTED}@`)
    .replace(NAMED_VALUE, (all, quote: string, name: string, sep: string, value: string) =>
      isSecretTextName(name) && !value.includes(REDACTED) ? `${quote}${name}${quote}${sep}${REDACTED}` : all,
    );
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Whether the string field `key` of an object held under `parentKey` is a secret by its place. */
function secretByPlace(key: string, parentKey: string | undefined): boolean {
  return key === 'secret' || ((parentKey === 'env' || parentKey === 'headers') && isSecretName(key));
}

/**
 * Walks `value`, calling `onString(s, secret)` for each string with whether its place makes
 * it a secret: values of secret-named keys in `env` and `headers` maps, every string under a
 * `secretEnv` map, `secret` fields. Returns the rebuilt value.
 */
function mapStrings(value: unknown, onString: (s: string, secret: boolean) => string): unknown {
  const visit = (v: unknown, key: string | undefined, parentKey: string | undefined, underSecretEnv: boolean): unknown => {
    if (typeof v === 'string') return onString(v, underSecretEnv || (key !== undefined && secretByPlace(key, parentKey)));
    if (Array.isArray(v)) return v.map((x) => visit(x, undefined, key, underSecretEnv));
    if (!isRecord(v)) return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, visit(x, k, key, underSecretEnv || (k === 'secretEnv' && isRecord(x)))]));
  };
  return visit(value, undefined, undefined, false);
}

/** The secret strings in `value` (by place, see mapStrings) and every URL password in it. */
export function secretValues(value: unknown, found = new Set<string>()): Set<string> {
  mapStrings(value, (s, secret) => {
    if (secret) found.add(s);
    for (const m of s.matchAll(URL_PASSWORD)) found.add(m[2]!);
    return s;
  });
  return found;
}

function replaceAll(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

/**
 * A copy of `value` (a view, a list of them, events…) with every secret found in it replaced
 * wherever it appears — also inside other strings such as the stored YAML source and old
 * event messages — and secret-looking `NAME=value` text redacted.
 */
export function redactDeep<T>(value: T, extraSecrets: Iterable<string> = []): T {
  const secrets = [...secretValues(value, new Set(extraSecrets))]
    .filter((s) => s.length >= MIN_SECRET_LENGTH)
    // Longest first, so a secret containing another is replaced whole.
    .sort((a, b) => b.length - a.length);
  return mapStrings(value, (s, secret) => (secret ? REDACTED : redactText(replaceAll(s, secrets)))) as T;
}
