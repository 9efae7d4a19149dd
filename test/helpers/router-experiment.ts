/**
 * Router processes with an experiment listener, for test/integration/router-experiment-*:
 * an app per variant that answers its variant's name (/buy?amount=X also sends
 * `x-order-value: X`, /fail answers 500), a table with ExperimentRoutes, a flag push that
 * opens the client API (events endpoint) with token `client-token`, and journal helpers.
 */
import http from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExperimentRecordBatch, ExperimentRoutes } from '../../src/core/experiment.js';
import type { FlagPush } from '../../src/core/flags.js';
import type { ListenerRoutes, RouteTable } from '../../src/core/route-table.js';
import { HttpTrafficRouter, startRouterProcess } from '../../src/router/http-client.js';
import { isProcessAlive } from '../../src/util/process-control.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export const CLIENT_TOKEN = 'client-token';

export interface VariantApp {
  variant: string;
  port: number;
  close(): Promise<void>;
}

export async function startVariantApp(variant: string): Promise<VariantApp> {
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://x');
    const headers: Record<string, string> = { 'content-type': 'text/plain' };
    if (url.pathname.startsWith('/buy')) headers['x-order-value'] = url.searchParams.get('amount') ?? '';
    res.writeHead(url.pathname === '/fail' ? 500 : 200, headers);
    res.end(variant);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    variant,
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}

export function experimentRoutes(extra: Partial<ExperimentRoutes> = {}): ExperimentRoutes {
  return {
    experiment: 'r2a1',
    salt: 'shop/r2a1',
    userKey: { header: 'x-user' },
    cookie: { name: 'sluice-uid', maxAgeSeconds: 31_536_000 },
    goals: [
      { metric: 'checkout', kind: 'binomial', goal: { methods: ['POST'], path: '/checkout' } },
      { metric: 'revenue', kind: 'continuous', goal: { pathPrefix: '/buy', valueHeader: 'x-order-value' } },
    ],
    events: [
      { event: 'purchase', metric: 'revenue-app', kind: 'continuous', allowNegative: false },
      { event: 'signup', metric: 'signups', kind: 'binomial', allowNegative: false },
      { event: 'refund', metric: 'net', kind: 'continuous', allowNegative: true },
    ],
    ...extra,
  };
}

/** An experiment listener over one app per variant (revisions 1.., weights in order). */
export function experimentListener(listen: string, apps: VariantApp[], weights: number[], experiment: ExperimentRoutes, rollout = 'shop'): ListenerRoutes {
  return {
    listen,
    rollout,
    role: 'main',
    balancer: 'round-robin',
    rules: [],
    variantHeader: 'x-variant',
    split: apps.map((_, i) => ({ revision: i + 1, weight: weights[i] })),
    backends: apps.map((a, i) => ({
      revision: i + 1,
      version: `v${i + 1}`,
      variant: a.variant,
      endpoints: [{ id: `${rollout}-${a.variant}`, host: '127.0.0.1', port: a.port }],
    })),
    experiment,
  };
}

export function flagPush(listen: string, generation = 1): FlagPush {
  return {
    generation,
    listen,
    document: { flags: { on: { state: 'ENABLED', variants: { on: true }, defaultVariant: 'on' } } },
    tokens: [{ name: 'app', sha256: createHash('sha256').update(CLIENT_TOKEN).digest('hex') }],
  };
}

export interface RouterProc {
  dir: string;
  admin: string;
  pid: number;
  client: HttpTrafficRouter;
}

/** Router processes started by the tests, killed at the end; state dirs removed. */
export class RouterProcs {
  private readonly pids = new Set<number>();
  private readonly dirs: string[] = [];
  private readonly clients: HttpTrafficRouter[] = [];

  async start(dir?: string): Promise<RouterProc> {
    const stateDir = dir ?? mkdtempSync(join(tmpdir(), 'sluice-router-exp-'));
    if (dir === undefined) this.dirs.push(stateDir);
    const admin = `127.0.0.1:${await freePort()}`;
    const { pid, token } = await startRouterProcess({ stateDir, admin, logFile: join(stateDir, 'router.log'), extraArgs: ['--drain-timeout-ms', '2000'] });
    this.pids.add(pid);
    const client = new HttpTrafficRouter(admin, token);
    this.clients.push(client);
    return { dir: stateDir, admin, pid, client };
  }

  /** A process started by a handover: killed at the end too. */
  track(pid: number): void {
    this.pids.add(pid);
  }

  /** POST /shutdown, then waits for the process to exit. */
  async stop(r: RouterProc): Promise<void> {
    await r.client.shutdown();
    await waitFor(() => !isProcessAlive(r.pid), { timeoutMs: 10_000, what: `router pid ${r.pid} exits` });
  }

  async kill9(r: RouterProc): Promise<void> {
    process.kill(r.pid, 'SIGKILL');
    await waitFor(() => !isProcessAlive(r.pid), { timeoutMs: 5000, what: `router pid ${r.pid} dies` });
  }

  cleanup(): void {
    for (const c of this.clients) c.close();
    for (const pid of this.pids) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

/** Every record of the journal after `after`, paging by `max`. */
export async function allRecords(client: HttpTrafficRouter, after = 0, max = 50_000): Promise<ExperimentRecordBatch> {
  let batch = await client.experimentRecords(after, max);
  const records = [...batch.records];
  while (batch.records.length > 0 && records.at(-1)!.seq < batch.last) {
    batch = await client.experimentRecords(records.at(-1)!.seq, max);
    records.push(...batch.records);
  }
  return { journal: batch.journal, records, last: batch.last };
}

export function table(generation: number, ...listeners: ListenerRoutes[]): RouteTable {
  return { generation, listeners };
}

/** One request to the router (router-fixtures' `request`). */
export { type Answer as Reply, request as send } from './router-fixtures.js';

/** Runs f(0..n-1), `width` at a time. */
export async function inParallel<T>(n: number, width: number, f: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await f(i);
      }
    }),
  );
  return out;
}
