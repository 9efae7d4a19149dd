import http from 'node:http';
import { waitFor } from './wait.js';

export interface Sample {
  /** ms since the generator started, when the request was sent */
  sentAt: number;
  doneAt: number;
  status: number;
  /** x-version response header ("" when absent) */
  version: string;
  /** connection-level failure, if any */
  error?: string;
  /** first bytes of the body, kept for non-2xx answers only */
  body?: string;
  retryAfter?: string;
}

export interface LoadReport {
  samples: Sample[];
  sent: number;
  ok2xx: number;
  status503: number;
  otherStatus: number;
  errors: number;
  byVersion: Record<string, number>;
  p99Ms: number;
}

/**
 * An open-loop load generator: it sends `rate` requests per second whatever the answers
 * take (a closed loop would slow down exactly when the service does, hiding failures).
 * Only 127.0.0.1, bounded by `maxSeconds`, and it stops by itself.
 */
export class LoadGenerator {
  readonly samples: Sample[] = [];
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private timer: NodeJS.Timeout | undefined;
  private readonly t0 = performance.now();
  private sent = 0;
  private inflight = 0;
  private stopped = false;
  private readonly hardStop: NodeJS.Timeout;

  constructor(
    private readonly port: number,
    private readonly rate: number,
    maxSeconds = 120,
    private readonly path = '/',
  ) {
    if (rate <= 0 || rate > 5000) throw new Error(`load rate ${rate}/s out of the allowed 1..5000`);
    this.timer = setInterval(() => this.tick(), 5);
    this.hardStop = setTimeout(() => void this.stop(), maxSeconds * 1000);
  }

  now(): number {
    return performance.now() - this.t0;
  }

  private tick(): void {
    const due = Math.floor((this.now() / 1000) * this.rate);
    while (this.sent < due && !this.stopped) {
      this.sent++;
      this.fire();
    }
  }

  private fire(): void {
    const sentAt = this.now();
    this.inflight++;
    const req = http.request({ host: '127.0.0.1', port: this.port, path: this.path, agent: this.agent, timeout: 30_000 }, (res) => {
      const status = res.statusCode ?? 0;
      let body = '';
      if (status >= 200 && status < 300) res.resume();
      else res.on('data', (d: Buffer) => void (body.length < 200 && (body += d.toString())));
      res.on('end', () => {
        const s: Sample = { sentAt, doneAt: this.now(), status, version: String(res.headers['x-version'] ?? '') };
        if (status < 200 || status >= 300) Object.assign(s, { body, retryAfter: res.headers['retry-after'] });
        this.record(s);
      });
      res.on('error', (err) => this.record({ sentAt, doneAt: this.now(), status: 0, version: '', error: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => this.record({ sentAt, doneAt: this.now(), status: 0, version: '', error: (err as NodeJS.ErrnoException).code ?? err.message }));
    req.end();
  }

  private record(s: Sample): void {
    this.inflight--;
    this.samples.push(s);
  }

  /** Stop sending, wait for answers in flight (bounded), and summarise. */
  async stop(): Promise<LoadReport> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.hardStop);
    // Bounded: answers still missing after 35 s are counted as lost by summarize, not thrown.
    await waitFor(() => this.inflight === 0, { timeoutMs: 35_000, intervalMs: 20, what: 'the answers in flight' }).catch(() => undefined);
    this.agent.destroy();
    return summarize(this.samples);
  }
}

export function summarize(samples: Sample[]): LoadReport {
  const byVersion: Record<string, number> = {};
  let ok2xx = 0;
  let status503 = 0;
  let otherStatus = 0;
  let errors = 0;
  for (const s of samples) {
    if (s.error) errors++;
    else if (s.status >= 200 && s.status < 300) ok2xx++;
    else if (s.status === 503) status503++;
    else otherStatus++;
    if (s.version) byVersion[s.version] = (byVersion[s.version] ?? 0) + 1;
  }
  const lat = samples.map((s) => s.doneAt - s.sentAt).sort((a, b) => a - b);
  return { samples, sent: samples.length, ok2xx, status503, otherStatus, errors, byVersion, p99Ms: lat[Math.floor(lat.length * 0.99)] ?? 0 };
}

export function describe(r: LoadReport): string {
  return `sent ${r.sent}, 2xx ${r.ok2xx}, 503 ${r.status503}, other ${r.otherStatus}, connection errors ${r.errors}, p99 ${r.p99Ms.toFixed(1)} ms, versions ${JSON.stringify(r.byVersion)}`;
}
