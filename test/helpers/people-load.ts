import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { waitFor } from './wait.js';

/**
 * Open-loop read/write load on test/fixtures/apps/people-app.mjs through the router: each
 * tick sends a write (POST /people, or PUT of a row written earlier) or a read of a row
 * written earlier. The bodies carry both shapes (first_name + last_name and full_name), so
 * whichever version answers has what it needs; `x-app-shape` says which one did. Every
 * failed request is kept, and every write is remembered to check later that no write was
 * lost. Only 127.0.0.1, bounded by `maxSeconds`, and it stops by itself.
 */
export interface PeopleFailure {
  at: number;
  what: string;
  status: number;
  body: string;
}

export interface Person {
  id: number;
  first_name: string;
  last_name: string;
  full_name: string;
  /** Shape of the version that made the last write. */
  by: string;
}

export class PeopleLoad {
  readonly failures: PeopleFailure[] = [];
  readonly people = new Map<number, Person>();
  readonly byShape: Record<string, number> = {};
  sent = 0;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  private readonly t0 = performance.now();
  private readonly timer: NodeJS.Timeout;
  private readonly hardStop: NodeJS.Timeout;
  private inflight = 0;
  private stopped = false;
  private serial = 0;
  /** Rows with a write in flight: reads of them could see either value. */
  private readonly writing = new Set<number>();

  constructor(
    private readonly port: number,
    private readonly rate: number,
    maxSeconds = 240,
  ) {
    if (rate <= 0 || rate > 2000) throw new Error(`load rate ${rate}/s out of the allowed 1..2000`);
    this.timer = setInterval(() => this.tick(), 5);
    this.hardStop = setTimeout(() => void this.stop(), maxSeconds * 1000);
  }

  get requests(): number {
    return this.sent;
  }

  private now(): number {
    return performance.now() - this.t0;
  }

  private tick(): void {
    const due = Math.floor((this.now() / 1000) * this.rate);
    while (this.sent < due && !this.stopped) {
      this.sent++;
      const ids = [...this.people.keys()];
      const r = Math.random();
      if (ids.length < 20 || r < 0.35) this.create();
      else if (r < 0.5) this.update(ids[Math.floor(Math.random() * ids.length)]!);
      else this.read(ids[Math.floor(Math.random() * ids.length)]!);
    }
  }

  private person(): { first_name: string; last_name: string; full_name: string } {
    const n = ++this.serial;
    return { first_name: `Ann${n}`, last_name: `Lee${n}`, full_name: `Ann${n} Lee${n}` };
  }

  private create(): void {
    const p = this.person();
    this.call('POST', '/people', p, (status, body, shape) => {
      if (status !== 201) return this.fail('POST /people', status, body);
      const id = (JSON.parse(body) as { id: number }).id;
      this.people.set(id, { id, ...p, by: shape });
    });
  }

  private update(id: number): void {
    if (this.writing.has(id)) return;
    const p = this.person();
    this.writing.add(id);
    this.call('PUT', `/people/${id}`, p, (status, body, shape) => {
      this.writing.delete(id);
      if (status !== 200) return this.fail(`PUT /people/${id}`, status, body);
      this.people.set(id, { id, ...p, by: shape });
    });
  }

  private read(id: number): void {
    if (this.writing.has(id)) return;
    const want = this.people.get(id)!;
    this.call('GET', `/people/${id}`, undefined, (status, body, shape) => {
      if (status !== 200) return this.fail(`GET /people/${id}`, status, body);
      if (this.writing.has(id) || this.people.get(id) !== want) return;
      const got = JSON.parse(body) as Record<string, unknown>;
      const ok = shape === 'v2' ? got.full_name === want.full_name : got.first_name === want.first_name && got.last_name === want.last_name;
      if (!ok) this.fail(`GET /people/${id} (written by ${want.by}, read by ${shape})`, status, `${body} — expected ${JSON.stringify(want)}`);
    });
  }

  private fail(what: string, status: number, body: string): void {
    this.failures.push({ at: Math.round(this.now()), what, status, body: body.slice(0, 300) });
  }

  private call(method: string, path: string, body: unknown, done: (status: number, body: string, shape: string) => void): void {
    this.inflight++;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port: this.port,
        method,
        path,
        agent: this.agent,
        timeout: 30_000,
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => {
          this.inflight--;
          const shape = String(res.headers['x-app-shape'] ?? '');
          this.byShape[shape] = (this.byShape[shape] ?? 0) + 1;
          done(res.statusCode ?? 0, text, shape);
        });
        res.on('error', (err) => {
          this.inflight--;
          this.fail(`${method} ${path}`, 0, err.message);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => {
      this.inflight--;
      this.fail(`${method} ${path}`, 0, (err as NodeJS.ErrnoException).code ?? err.message);
    });
    req.end(payload);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.hardStop);
    await waitFor(() => this.inflight === 0, { timeoutMs: 35_000, intervalMs: 20, what: 'the answers in flight' }).catch(() => undefined);
    this.agent.destroy();
  }
}
