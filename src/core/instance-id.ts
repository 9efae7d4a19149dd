import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** A new instance id: `<rollout>-r<revision>-<5 random chars>`, e.g. `web-r3-k2x9q`. */
export function newInstanceId(rollout: string, revision: number): string {
  const suffix = Array.from(randomBytes(5), (byte) => ALPHABET[byte % ALPHABET.length]).join('');
  return `${rollout}-r${revision}-${suffix}`;
}
