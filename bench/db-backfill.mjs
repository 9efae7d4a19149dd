// A 1M-row batched backfill (src/migrations/backfill.ts) while an app serves traffic from
// the same table: a real PostgreSQL of its own (test/helpers/postgres.ts), a small HTTP app
// (node http + a pg pool, in a child process) whose requests read a row or update one, and
// open-loop load at RATE req/s from this process. Phases: before / during the backfill /
// after; prints rows/s, the app's p50 / p99 and failed requests per phase, and writes
// bench/results/db-backfill.txt.
// Run: npm run bench:db-backfill [-- RATE]   (default 300 req/s, at most 1000)
// 127.0.0.1 only; bounded rate and time (the backfill is stopped after 180 s); about 1–2 minutes.
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const ROWS = 1_000_000;
const BATCH = 5000;
const PAUSE_MS = 10;
const STEADY_SECONDS = 10;
const MAX_BACKFILL_SECONDS = 180;
const MAX_ACTIVE = 8;

if (process.argv[2] === '--app') await app(process.argv[3]);
else await main();

/** The app: GET /read → a random row; POST /write → updates a random row's name. */
async function app(url) {
  const pool = new pg.Pool({ connectionString: url, max: 16, application_name: 'bench-app' });
  pool.on('error', () => {});
  const server = http.createServer(async (req, res) => {
    const id = 1 + Math.floor(Math.random() * ROWS);
    try {
      if (req.url === '/write') await pool.query("UPDATE people SET name = 'w' || $1::text WHERE id = $1", [id]);
      else await pool.query('SELECT id, name, full_name FROM people WHERE id = $1', [id]);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    } catch (err) {
      res.writeHead(500).end(String(err.message));
    }
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
  process.on('disconnect', () => process.exit(0));
}

async function main() {
  const rate = Number(process.argv[2] ?? 300);
  if (!Number.isFinite(rate) || rate < 1 || rate > 1000) {
    console.error(`rate ${process.argv[2]}: must be 1..1000 requests per second`);
    process.exit(2);
  }
  const { startPostgres } = await import('../dist/test/helpers/postgres.js');
  const { runBackfill } = await import('../dist/src/migrations/backfill.js');
  const { PostgresAdapter } = await import('../dist/src/migrations/db/postgres.js');
  const { loadMigrationFile } = await import('../dist/src/migrations/load.js');
  const { loadSqlParser } = await import('../dist/src/migrations/sql/parse.js');

  const server = await startPostgres({ settings: { shared_buffers: '256MB' } });
  let child;
  try {
    const url = await server.database('bench');
    const c = new pg.Client(url);
    await c.connect();
    await c.query('CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL, full_name text)');
    await c.query(`INSERT INTO people (id, name) SELECT g, 'n' || g FROM generate_series(1, ${ROWS}) g`);
    await c.query('VACUUM ANALYZE people');
    await c.end();

    child = fork(fileURLToPath(import.meta.url), ['--app', url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const port = await new Promise((resolve, reject) => {
      child.once('message', (m) => resolve(m.port));
      child.once('exit', (code) => reject(new Error(`the app exited ${code}`)));
    });

    // Open-loop load: requests leave on schedule whatever the answers take; each is counted
    // in the phase it was sent in. Half read, half write.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
    const phases = { before: newPhase(), during: newPhase(), after: newPhase() };
    let phase = newPhase(); // warm-up: not counted
    let sent = 0;
    let inFlight = 0;
    const t0 = performance.now();
    const send = () => {
      const p = phase;
      const path = sent % 2 === 0 ? '/read' : '/write';
      sent++;
      p.sent++;
      inFlight++;
      const start = performance.now();
      const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent, timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          inFlight--;
          if (res.statusCode === 200) p.latencies.push(performance.now() - start);
          else p.failed++;
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        inFlight--;
        p.failed++;
      });
      req.end();
    };
    let stopLoad = false;
    const loader = setInterval(() => {
      if (stopLoad) return;
      const due = Math.floor(((performance.now() - t0) / 1000) * rate);
      while (sent < due) send();
    }, 2);
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

    await sleep(1000);
    phase = phases.before;
    let mark = performance.now();
    await sleep(STEADY_SECONDS * 1000);
    phases.before.seconds = (performance.now() - mark) / 1000;

    await loadSqlParser();
    const m = loadMigrationFile(
      '/bench/001_full_name.sql',
      `-- sluice:migrate\n-- sluice:batch key=id size=${BATCH}\nUPDATE people SET full_name = name || ' (backfilled)' WHERE id >= $1 AND id < $2;\n`,
      'postgres',
    );
    phase = phases.during;
    mark = performance.now();
    const signal = AbortSignal.timeout(MAX_BACKFILL_SECONDS * 1000);
    let throttled = 0;
    const result = await runBackfill(new PostgresAdapter(url), m, {
      settings: { batchSize: BATCH, pauseMs: PAUSE_MS, maxActiveSessions: MAX_ACTIVE },
      lockTimeoutMs: 2000,
      statementTimeoutMs: 60_000,
      revision: 2,
      signal,
      progress: (_p, message) => {
        if (message) throttled++;
      },
    });
    phases.during.seconds = (performance.now() - mark) / 1000;
    const bf = result.progress[0] ?? { rowsDone: 0, batchesDone: 0 };

    phase = phases.after;
    mark = performance.now();
    await sleep(STEADY_SECONDS * 1000);
    phases.after.seconds = (performance.now() - mark) / 1000;
    stopLoad = true;
    clearInterval(loader);
    const drainBy = Date.now() + 15_000;
    while (inFlight > 0 && Date.now() < drainBy) await sleep(50);
    agent.destroy();

    const check = new pg.Client(url);
    await check.connect();
    const missed = Number((await check.query('SELECT count(*) AS n FROM people WHERE full_name IS NULL')).rows[0].n);
    await check.end();

    const rows = [
      ['phase', 'seconds', 'backfill rows/s', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'failed'],
      ...Object.entries(phases).map(([name, p]) => {
        const l = p.latencies.sort((a, b) => a - b);
        const q = (f) => (l.length ? l[Math.min(l.length - 1, Math.floor(f * l.length))].toFixed(1) : '-');
        return [
          name === 'during' ? 'during backfill' : name,
          p.seconds.toFixed(1),
          name === 'during' ? Math.round(bf.rowsDone / p.seconds).toLocaleString('en-US') : '-',
          String(p.sent),
          (p.sent / p.seconds).toFixed(0),
          q(0.5),
          q(0.99),
          l.length ? l[l.length - 1].toFixed(1) : '-',
          String(p.failed),
        ];
      }),
    ];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    const table = rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ')).join('\n');
    const lines = [
      `db-backfill: ${ROWS.toLocaleString('en-US')}-row batched backfill under ${rate} req/s of app traffic (half reads by id, half single-row updates)`,
      `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; Node ${process.version}; PostgreSQL of its own (fsync off); ${new Date().toISOString()}.`,
      `Backfill: batch ${BATCH} keys, pause ${PAUSE_MS} ms, maxActiveSessions ${MAX_ACTIVE}, one transaction per batch (statement + cursor row). App: node http + pg.Pool(16), same machine.`,
      '',
      table,
      '',
      `backfill: ${result.ok ? 'ok' : 'NOT DONE'} — ${result.message}; ${bf.batchesDone} batches, ${bf.rowsDone.toLocaleString('en-US')} rows in ${phases.during.seconds.toFixed(1)} s; throttle reports ${throttled}; rows left without full_name: ${missed}`,
    ];
    const out = lines.join('\n');
    console.log(out);
    const here = dirname(fileURLToPath(import.meta.url));
    mkdirSync(join(here, 'results'), { recursive: true });
    writeFileSync(join(here, 'results', 'db-backfill.txt'), `${out}\n`);
  } finally {
    child?.disconnect?.();
    child?.kill();
    await server.stop();
  }
}

function newPhase() {
  return { sent: 0, failed: 0, latencies: [], seconds: 0 };
}
