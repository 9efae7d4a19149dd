/**
 * The tests' one way to wait: `sleep` for a fixed time, `waitFor` until something holds.
 * Every poll loop in test/ goes through `waitFor`, so a timeout always says what was awaited
 * and what was last seen.
 */
import { inspect } from 'node:util';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** What a successful check returns: its value, without the falsy cases. */
export type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

export interface WaitOptions {
  /** Give up this long after the first check. */
  timeoutMs: number;
  /** Pause between checks; 100 ms unless given. */
  intervalMs?: number;
  /** What is awaited, for the timeout message ("web: v2 healthy"). */
  what: string;
  /** More for the timeout message, computed only then (a process's output, a log tail). */
  detail?: () => string;
}

/**
 * Thrown by a check when waiting longer cannot help (the process it waits for exited):
 * `waitFor` fails at once with it. Any other error a check throws counts as "not yet".
 */
export class GiveUp extends Error {}

/**
 * Calls `check` until it returns a truthy value, and returns that value. A check that
 * throws is retried (an assertion that does not hold yet, a server still starting).
 * After `timeoutMs` it fails with `what`, the last value or error, and `detail()`.
 */
export async function waitFor<T>(check: () => T | Promise<T>, o: WaitOptions): Promise<Truthy<T>> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    let last: string;
    try {
      const value = await check();
      if (value) return value as Truthy<T>;
      last = `last value ${inspect(value)}`;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      last = `last error: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (Date.now() > deadline) {
      const detail = o.detail?.();
      throw new Error(`timed out after ${o.timeoutMs} ms waiting for ${o.what} (${last})${detail ? `\n${detail}` : ''}`);
    }
    await sleep(o.intervalMs ?? 100);
  }
}
