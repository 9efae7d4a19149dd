/**
 * The API's bearer token and the file telling clients where the API listens. Both live in
 * the state directory, readable only by the user who started sluice: whoever can read the
 * token can drive every rollout.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.js';
import { ensureTokenFile, readTokenFile, secureDir } from '../util/secret-file.js';

export interface ApiInfo {
  /** host:port */
  address: string;
  /** The control plane's process id. */
  pid: number;
}

const TOKEN_FILE = 'token';
const API_INFO_FILE = 'api.json';

function ensureStateDir(stateDir: string): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
}

const WHAT = 'API token file';

/**
 * The token, created (32 random bytes, hex, mode 0600) on first start. Every start takes the
 * state directory back to 0700 and refuses a token others could read or a short one
 * (src/util/secret-file.ts).
 */
export function ensureToken(stateDir: string): string {
  secureDir(stateDir);
  return ensureTokenFile(join(stateDir, TOKEN_FILE), WHAT);
}

export function readToken(stateDir: string): string {
  const token = readTokenFile(join(stateDir, TOKEN_FILE), WHAT);
  if (token === undefined) {
    throw new UserError(`no token in ${join(stateDir, TOKEN_FILE)} — start sluice with \`sluice up\` first`, 'no-token');
  }
  return token;
}

/** Written by the control plane once its API listens; atomic so a client never reads half of it. */
export function writeApiInfo(stateDir: string, info: ApiInfo): void {
  ensureStateDir(stateDir);
  const path = join(stateDir, API_INFO_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(info) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}

export function readApiInfo(stateDir: string): ApiInfo {
  const path = join(stateDir, API_INFO_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(`no ${path}: the sluice API is not running — start it with \`sluice up\``, 'not-running');
    }
    throw err;
  }
  let info: Partial<ApiInfo>;
  try {
    info = JSON.parse(text) as Partial<ApiInfo>;
  } catch {
    throw new UserError(`${path} is not valid JSON — stop sluice, delete the file and run \`sluice up\``, 'invalid');
  }
  if (typeof info.address !== 'string' || typeof info.pid !== 'number') {
    throw new UserError(`${path} lacks "address" or "pid" — stop sluice, delete the file and run \`sluice up\``, 'invalid');
  }
  return { address: info.address, pid: info.pid };
}

/** Removed by the control plane when it stops, only if it is still the one the file names. */
export function removeApiInfo(stateDir: string, pid: number = process.pid): void {
  try {
    if (readApiInfo(stateDir).pid !== pid) return;
  } catch {
    return;
  }
  rmSync(join(stateDir, API_INFO_FILE), { force: true });
}
