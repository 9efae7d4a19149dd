/**
 * OFREP clients for end-to-end tests: one raw evaluation, and a poller that evaluates a
 * flag at a bounded rate until stopped and remembers every answer (the acceptance counts
 * failed evaluations, so a refused connection is recorded, never retried).
 */
import { sleep } from './wait.js';

export interface OfrepAnswer {
  status: number;
  body: { value?: unknown; errorCode?: string; flags?: { key: string }[]; [k: string]: unknown } | undefined;
  etag: string | null;
}

export async function ofrepCall(base: string, token: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<OfrepAnswer> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), etag: res.headers.get('etag') };
}

export interface Evaluation {
  at: number;
  status: number;
  value?: unknown;
  error?: string;
}

/** Evaluates `flag` for targetingKey `poller` every `everyMs` until `stop()`. */
export function pollFlag(base: string, token: string, flag: string, everyMs: number) {
  const seen: Evaluation[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      try {
        const r = await ofrepCall(base, token, `/ofrep/v1/evaluate/flags/${flag}`, { context: { targetingKey: 'poller' } });
        seen.push({ at: Date.now(), value: r.body?.value, status: r.status });
      } catch (e) {
        seen.push({ at: Date.now(), status: 0, error: (e as Error).message });
      }
      await sleep(everyMs);
    }
  })();
  return {
    seen,
    failures: () => seen.filter((s) => s.status !== 200),
    stop: async () => {
      running = false;
      await done;
      return seen;
    },
  };
}
