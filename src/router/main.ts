/**
 * The router process: node dist/src/router/main.js --state-dir DIR [--admin 127.0.0.1:9901]
 *   [--drain-timeout-ms N] [--upstream-timeout-ms N] [--sample-capacity N]
 * Runs apart from the control plane so that restarting or killing the control plane never
 * drops a request; it serves its last persisted table from the moment it starts.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseHostPort } from './address.js';
import { createAdminServer } from './admin.js';
import { DEFAULT_ROUTER_ADMIN } from './admin-protocol.js';
import { DRAIN_TIMEOUT_MS, Router } from './router.js';
import { DEFAULT_SAMPLE_CAPACITY } from './samples.js';

export const ROUTER_PID_FILE = 'router.pid';

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} sluice-router[${process.pid}] ${line}\n`);
}

function fail(message: string): never {
  log(message);
  process.exit(1);
}

function parseArgs(argv: string[]): { stateDir: string; admin: string; drainMs: number; upstreamMs?: number; sampleCapacity: number } {
  const opts: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (m === null) fail(`unexpected argument ${argv[i]}; usage: main.js --state-dir DIR [--admin host:port]`);
    opts[m[1]] = m[2] ?? argv[++i] ?? fail(`--${m[1]} needs a value`);
  }
  const known = new Set(['state-dir', 'admin', 'drain-timeout-ms', 'upstream-timeout-ms', 'sample-capacity']);
  for (const k of Object.keys(opts)) if (!known.has(k)) fail(`unknown option --${k}; known: ${[...known].map((x) => '--' + x).join(', ')}`);
  if (opts['state-dir'] === undefined) fail('--state-dir DIR is required');
  const num = (k: string): number | undefined => {
    if (opts[k] === undefined) return undefined;
    const n = Number(opts[k]);
    if (!Number.isFinite(n) || n < 0) fail(`--${k} ${opts[k]}: must be a non-negative number`);
    return n;
  };
  const sampleCapacity = num('sample-capacity') ?? DEFAULT_SAMPLE_CAPACITY;
  if (sampleCapacity < 1 || !Number.isInteger(Math.log2(sampleCapacity))) fail(`--sample-capacity ${sampleCapacity}: must be a power of two (requests kept per revision)`);
  return {
    stateDir: opts['state-dir'],
    admin: opts.admin ?? DEFAULT_ROUTER_ADMIN,
    drainMs: num('drain-timeout-ms') ?? DRAIN_TIMEOUT_MS,
    upstreamMs: num('upstream-timeout-ms'),
    sampleCapacity,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const adminAddr = parseHostPort(args.admin) ?? fail(`--admin ${args.admin}: must be host:port`);
  const routerDir = join(args.stateDir, 'router');
  mkdirSync(routerDir, { recursive: true });
  const pidFile = join(routerDir, ROUTER_PID_FILE);

  const router = new Router({ stateDir: args.stateDir, drainTimeoutMs: args.drainMs, upstreamTimeoutMs: args.upstreamMs, sampleCapacity: args.sampleCapacity, log });
  await router.start();

  let stopping = false;
  const shutdown = (why: string): void => {
    if (stopping) return;
    stopping = true;
    log(`${why}: no longer accepting; draining ${router.inflight} request(s) in flight (up to ${args.drainMs / 1000}s)`);
    void router.close(args.drainMs).then(() => {
      log(`stopped (${router.inflight} request(s) cut)`);
      admin.close();
      admin.closeAllConnections();
      rmSync(pidFile, { force: true });
      process.exit(0);
    });
  };

  const admin = createAdminServer(router, { shutdown: () => shutdown('POST /shutdown') });
  await new Promise<void>((resolve) => {
    admin.once('error', (e: NodeJS.ErrnoException) =>
      fail(`cannot listen for admin on ${args.admin}: ${e.code === 'EADDRINUSE' ? 'address in use — is another router running?' : e.message}`),
    );
    admin.listen(adminAddr.port, adminAddr.host, resolve);
  });
  writeFileSync(pidFile, `${process.pid}\n`);
  log(`admin API on http://${args.admin}, state in ${routerDir}`);
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((e: Error) => fail(`failed to start: ${e.message}`));
