/**
 * Checks a listener's `experiment` (ExperimentRoutes, src/core/experiment.ts) as it arrives
 * over HTTP, in the style of src/router/validate.ts: the first problem, with its path.
 */
type Fail = (where: string, what: string) => never;

/** RFC 9110 token: header and cookie names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const KINDS = ['binomial', 'continuous'];
const EXPERIMENT_KEYS = ['experiment', 'salt', 'userKey', 'cookie', 'goals', 'events'];
const GOAL_KEYS = ['methods', 'path', 'pathPrefix', 'statusClass', 'valueHeader'];

/** A control character (C0 or DEL): not allowed in names sent in records and headers. */
const hasControl = (v: string): boolean => {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
};

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export function validateExperiment(raw: unknown, at: string, role: unknown, fail: Fail): void {
  if (!isObject(raw)) fail(at, `must be an object {${EXPERIMENT_KEYS.join(', ')}}`);
  const x = raw as Record<string, unknown>;
  if (role !== 'main') fail(at, `only a main listener carries an experiment (this one is ${JSON.stringify(role)})`);
  for (const k of Object.keys(x)) if (!EXPERIMENT_KEYS.includes(k)) fail(`${at}.${k}`, `is not an experiment setting; use ${EXPERIMENT_KEYS.join(', ')}`);
  const text = (where: string, v: unknown, what: string, max = 256): void => {
    if (typeof v !== 'string' || v === '' || v.length > max || hasControl(v))
      fail(where, `${JSON.stringify(v)?.slice(0, 80)} must be ${what} (1-${max} printable characters)`);
  };
  const token = (where: string, v: unknown, what: string): void => {
    if (typeof v !== 'string' || !TOKEN.test(v))
      fail(where, `${JSON.stringify(v)?.slice(0, 80)} is not a valid ${what} name (letters, digits and !#$%&'*+-.^_\`|~, not empty)`);
  };
  text(`${at}.experiment`, x.experiment, 'the test name, e.g. "r3a1"', 128);
  text(`${at}.salt`, x.salt, 'the hash salt, e.g. "<rollout>/<experiment>"', 512);
  if (!isObject(x.userKey)) fail(`${at}.userKey`, 'must be an object {header?, cookie?} ({} when only the router cookie identifies users)');
  const uk = x.userKey as Record<string, unknown>;
  for (const k of Object.keys(uk)) if (k !== 'header' && k !== 'cookie') fail(`${at}.userKey.${k}`, 'is not a user key source; use header or cookie');
  if (uk.header !== undefined) token(`${at}.userKey.header`, uk.header, 'header');
  if (uk.cookie !== undefined) token(`${at}.userKey.cookie`, uk.cookie, 'cookie');
  if (!isObject(x.cookie)) fail(`${at}.cookie`, "must be an object {name, maxAgeSeconds} (the router's signed user cookie)");
  const c = x.cookie as Record<string, unknown>;
  token(`${at}.cookie.name`, c.name, 'cookie');
  if (!Number.isSafeInteger(c.maxAgeSeconds) || (c.maxAgeSeconds as number) < 1)
    fail(`${at}.cookie.maxAgeSeconds`, `${JSON.stringify(c.maxAgeSeconds)} must be a whole number of seconds ≥ 1 (a year: 31536000)`);
  if (!Array.isArray(x.goals)) fail(`${at}.goals`, 'must be an array (possibly empty) of {metric, kind, goal}');
  (x.goals as unknown[]).forEach((g, gi) => {
    validateGoal(g, `${at}.goals[${gi}]`, fail, text, token);
  });
  if (!Array.isArray(x.events)) fail(`${at}.events`, 'must be an array (possibly empty) of {event, metric, kind, allowNegative}');
  const names = new Set<string>();
  (x.events as unknown[]).forEach((e, ei) => {
    const eat = `${at}.events[${ei}]`;
    if (!isObject(e)) fail(eat, 'must be an object {event, metric, kind, allowNegative}');
    const ev = e as Record<string, unknown>;
    text(`${eat}.event`, ev.event, 'an event name the app posts', 128);
    if (names.has(ev.event as string)) fail(`${eat}.event`, `${JSON.stringify(ev.event)} is listed twice; one event feeds one metric`);
    names.add(ev.event as string);
    text(`${eat}.metric`, ev.metric, 'the metric name', 128);
    if (!KINDS.includes(ev.kind as string)) fail(`${eat}.kind`, `${JSON.stringify(ev.kind)} must be binomial or continuous`);
    if (typeof ev.allowNegative !== 'boolean') fail(`${eat}.allowNegative`, 'must be true or false');
  });
}

function validateGoal(
  raw: unknown,
  at: string,
  fail: Fail,
  text: (where: string, v: unknown, what: string, max?: number) => void,
  token: (where: string, v: unknown, what: string) => void,
): void {
  if (!isObject(raw)) fail(at, 'must be an object {metric, kind, goal}');
  const g = raw as Record<string, unknown>;
  text(`${at}.metric`, g.metric, 'the metric name', 128);
  if (!KINDS.includes(g.kind as string)) fail(`${at}.kind`, `${JSON.stringify(g.kind)} must be binomial or continuous`);
  if (!isObject(g.goal)) fail(`${at}.goal`, 'must be an object {methods?, path | pathPrefix, statusClass?, valueHeader?}');
  const s = g.goal as Record<string, unknown>;
  for (const k of Object.keys(s)) if (!GOAL_KEYS.includes(k)) fail(`${at}.goal.${k}`, `is not a goal setting; use ${GOAL_KEYS.join(', ')}`);
  if (s.methods !== undefined && (!Array.isArray(s.methods) || s.methods.length === 0 || !s.methods.every((m) => typeof m === 'string' && /^[A-Z]+$/.test(m))))
    fail(`${at}.goal.methods`, 'must be a non-empty list of upper-case methods, e.g. [POST]');
  if ((s.path === undefined) === (s.pathPrefix === undefined)) fail(`${at}.goal`, 'needs exactly one of path (exact, without the query) or pathPrefix');
  for (const k of ['path', 'pathPrefix']) {
    const v = s[k];
    if (v !== undefined && (typeof v !== 'string' || !v.startsWith('/') || v.includes('?') || hasControl(v) || v.includes(' ')))
      fail(`${at}.goal.${k}`, `${JSON.stringify(v)?.slice(0, 80)} must be a path starting with / (no query, no spaces)`);
  }
  if (s.statusClass !== undefined && ![2, 3, 4, 5].includes(s.statusClass as number))
    fail(`${at}.goal.statusClass`, `${JSON.stringify(s.statusClass)} must be 2, 3, 4 or 5 (2xx…5xx)`);
  if (s.valueHeader !== undefined) token(`${at}.goal.valueHeader`, s.valueHeader, 'header');
  if (g.kind === 'continuous' && s.valueHeader === undefined) fail(`${at}.goal.valueHeader`, 'a continuous goal needs the response header carrying its value');
}
