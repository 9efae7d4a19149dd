/**
 * Read-only OFREP client tokens (`.sluice/flags/client-tokens.json`, 0600), separate from
 * the admin API token: an app holding one can evaluate flags and nothing else. The data
 * plane only ever gets their sha256 (ClientTokenRecord). `sluice up` makes the `default`
 * token at first start; `sluice flags token` prints it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClientTokenRecord } from '../core/flags.js';
import { UserError } from '../util/errors.js';
import { secureDir } from '../util/secret-file.js';

export interface ClientToken {
  name: string;
  token: string;
  /** Flag keys it may read; absent: all. */
  flags?: string[];
  createdAt: number;
}

export const DEFAULT_CLIENT_TOKEN = 'default';

export function clientTokensFile(stateDir: string): string {
  return join(stateDir, 'flags', 'client-tokens.json');
}

/** The tokens, [] when the file is absent. Refuses a file others could read (a leaked token is not fixed by a chmod). */
export function readClientTokens(stateDir: string): ClientToken[] {
  const path = clientTokensFile(stateDir);
  let text: string;
  try {
    if ((statSync(path).mode & 0o077) !== 0) {
      throw new UserError(
        `${path} is readable by other users — delete it and run \`sluice up\` to make new client tokens (then give apps the new ones)`,
        'insecure',
      );
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  let parsed: { tokens?: unknown };
  try {
    parsed = JSON.parse(text) as { tokens?: unknown };
  } catch {
    throw new UserError(`${path} is not valid JSON — fix it or delete it and run \`sluice up\``);
  }
  if (!Array.isArray(parsed.tokens)) throw new UserError(`${path} has no "tokens" list — fix it or delete it and run \`sluice up\``);
  return parsed.tokens as ClientToken[];
}

function writeClientTokens(stateDir: string, tokens: ClientToken[]): void {
  const path = clientTokensFile(stateDir);
  secureDir(join(stateDir, 'flags'));
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ tokens }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** At every start: the tokens, with the `default` one made when there is none. */
export function ensureClientTokens(stateDir: string, now = Date.now()): ClientToken[] {
  const tokens = readClientTokens(stateDir);
  if (tokens.some((t) => t.name === DEFAULT_CLIENT_TOKEN)) return tokens;
  const all = [{ name: DEFAULT_CLIENT_TOKEN, token: randomBytes(32).toString('hex'), createdAt: now }, ...tokens];
  writeClientTokens(stateDir, all);
  return all;
}

/** A new token; a name in use is refused and nothing changes. */
export function createClientToken(stateDir: string, name: string, flags?: string[], now = Date.now()): ClientToken {
  const tokens = readClientTokens(stateDir);
  if (tokens.some((t) => t.name === name)) {
    throw new UserError(`client token ${name} exists already — pick another name (\`sluice flags token\` prints the default one)`, 'conflict', 409);
  }
  const made: ClientToken = { name, token: randomBytes(32).toString('hex'), ...(flags && flags.length > 0 ? { flags: [...flags] } : {}), createdAt: now };
  writeClientTokens(stateDir, [...tokens, made]);
  return made;
}

/** What the data plane gets: names, hashes and scopes, never the tokens. */
export function clientTokenRecords(tokens: readonly ClientToken[]): ClientTokenRecord[] {
  return tokens.map((t) => ({ name: t.name, sha256: createHash('sha256').update(t.token).digest('hex'), ...(t.flags ? { flags: [...t.flags] } : {}) }));
}
