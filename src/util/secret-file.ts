/**
 * Bearer-token files and the state directory that holds them. Whoever can read a token
 * drives every rollout (the API token) or every route (the router's admin token), so a
 * token that others could have read is refused rather than repaired: fixing its mode would
 * not un-leak it.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { UserError } from './errors.js';

/** Shortest token accepted; sluice writes 64 hex characters (32 random bytes). */
export const MIN_TOKEN_LENGTH = 32;

/** Creates the directory (0700), or takes an existing one back to 0700. */
export function secureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if ((statSync(dir).mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
}

/** Takes an existing file to 0600 (a database, its WAL); absent files are left absent. */
export function secureFile(path: string): void {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (mode !== 0o600) chmodSync(path, 0o600);
}

/**
 * The token in `path`, created (32 random bytes, hex, mode 0600) when the file is absent or
 * empty. Refuses one readable by group or others, or shorter than MIN_TOKEN_LENGTH.
 */
export function ensureTokenFile(path: string, what: string): string {
  const existing = readTokenFile(path, what);
  if (existing !== undefined) return existing;
  const token = randomBytes(32).toString('hex');
  writeFileSync(path, token + '\n', { mode: 0o600 });
  // An existing empty file keeps its old mode through writeFileSync.
  chmodSync(path, 0o600);
  return token;
}

/** The token in `path`, undefined when the file is absent or empty; checked as ensureTokenFile says. */
export function readTokenFile(path: string, what: string): string | undefined {
  let text: string;
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (text === '') return undefined;
  const remedy = 'delete it and start sluice again (`sluice up`) to make a new one';
  if ((mode & 0o077) !== 0) {
    throw new UserError(
      `${what} ${path} is readable by group or others (mode ${mode.toString(8).padStart(4, '0')}) and may have leaked — ${remedy}`,
      'weak-token',
    );
  }
  if (text.length < MIN_TOKEN_LENGTH) {
    throw new UserError(`${what} ${path} is too short (${text.length} characters, at least ${MIN_TOKEN_LENGTH}) — ${remedy}`, 'weak-token');
  }
  if (mode !== 0o600) chmodSync(path, 0o600);
  return text;
}
