/**
 * The router's own signed user cookie for experiments: `<id>.<mac>`, id 16 random bytes and
 * mac HMAC-SHA256(key, id) cut to 16 bytes, both base64url. The key (32 random bytes) lives
 * in <state-dir>/router/experiment.key (0600), created at the first start, so every router
 * process over the same state dir (restarts, handovers) accepts the same cookies. A client
 * cannot choose its variant: an edited id or mac fails the check and gets a fresh id.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const EXPERIMENT_KEY_FILE = 'experiment.key';
const KEY_BYTES = 32;
/** base64url of 16 bytes, without padding. */
const PART = 22;
const VALUE_LENGTH = PART * 2 + 1;

/** The HMAC key of <stateDir>/router/experiment.key, created (0600) when missing. Throws on a damaged file. */
export function loadExperimentKey(stateDir: string): Buffer {
  const path = join(stateDir, 'router', EXPERIMENT_KEY_FILE);
  try {
    const key = readFileSync(path);
    if (key.length !== KEY_BYTES)
      throw new Error(`${path}: ${key.length} bytes, expected ${KEY_BYTES}; delete it to make a new key (every user gets a new cookie)`);
    return key;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const key = randomBytes(KEY_BYTES);
  try {
    writeFileSync(path, key, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (e) {
    // Another process over the same state dir made it first: use theirs.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(path);
    throw e;
  }
}

/** Signs and checks user cookie values with one key. */
export class UserCookieSigner {
  constructor(private readonly key: Buffer) {}

  /** The mac of an id, base64url (22 characters). */
  mac(id: string): string {
    return createHmac('sha256', this.key).update(id).digest().subarray(0, 16).toString('base64url');
  }

  /** A new user: [id, cookie value]. */
  mint(): [string, string] {
    const id = randomBytes(16).toString('base64url');
    return [id, `${id}.${this.mac(id)}`];
  }

  /** The id of a cookie value this key signed; undefined for anything else (absent, edited, another key). */
  verify(value: string | undefined): string | undefined {
    if (value === undefined || value.length !== VALUE_LENGTH || value.charCodeAt(PART) !== 46 /* . */) return undefined;
    const id = value.slice(0, PART);
    // Compared as text, not decoded bytes: base64url decoding ignores a last character's spare bits.
    const given = Buffer.from(value.slice(PART + 1), 'latin1');
    const want = Buffer.from(this.mac(id), 'latin1');
    return given.length === want.length && timingSafeEqual(given, want) ? id : undefined;
  }
}
