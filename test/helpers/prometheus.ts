import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from './ports.js';
import { GiveUp, waitFor } from './wait.js';

const CANDIDATES = ['/usr/bin/prometheus', '/usr/local/bin/prometheus'];
const READY_TIMEOUT_MS = 30_000;

/** The Prometheus server binary (Debian package `prometheus`), or undefined when it is not installed. */
export function prometheusBinary(): string | undefined {
  return firstExecutable(process.env.PROMETHEUS_BIN, CANDIDATES);
}

/** promtool (same Debian package), or undefined when it is not installed. */
export function promtoolBinary(): string | undefined {
  return firstExecutable(process.env.PROMTOOL_BIN, ['/usr/bin/promtool', '/usr/local/bin/promtool']);
}

function firstExecutable(fromEnv: string | undefined, candidates: string[]): string | undefined {
  for (const path of fromEnv ? [fromEnv, ...candidates] : candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Try the next one.
    }
  }
  return undefined;
}

/**
 * The binary, or undefined after skipping the test loudly. In CI (CI set) a missing
 * binary fails the test instead: .ci/run installs it, so its absence is a broken setup.
 */
export function prometheusOrSkip(t: TestContext): string | undefined {
  return binaryOrSkip(t, prometheusBinary(), 'prometheus');
}

/** promtool, or undefined after skipping loudly (a failure in CI), as prometheusOrSkip. */
export function promtoolOrSkip(t: TestContext): string | undefined {
  return binaryOrSkip(t, promtoolBinary(), 'promtool');
}

function binaryOrSkip(t: TestContext, bin: string | undefined, name: string): string | undefined {
  if (bin !== undefined) return bin;
  const message = `${name} not installed — apt-get install prometheus`;
  if (process.env.CI) throw new Error(`${message} (CI is set, so this is a failure, not a skip)`);
  console.error(`\n*** SKIPPED: ${message} ***\n`);
  t.skip(`SKIPPED: ${message}`);
  return undefined;
}

/** One scrape job of startPrometheus: its name (the `job` label), targets, token file and path (default /metrics). */
export interface ScrapeJob {
  jobName: string;
  targets: string[];
  bearerTokenFile?: string;
  metricsPath?: string;
}

export interface RunningPrometheus {
  /** e.g. http://127.0.0.1:41234 */
  address: string;
  /** Resolves once every scrape target has been scraped successfully at least once. */
  waitForTargetsUp(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real Prometheus on 127.0.0.1 with its own config and storage in a temp dir.
 * `bearerTokenFile`: sent as `Authorization: Bearer` on every scrape (the router's admin-token).
 * `jobName`: the scrape job (default `test`), i.e. the `job` label of every series.
 * `ruleFiles`: absolute paths of rule files to load (evaluated every scrape interval).
 * `moreJobs`: further scrape jobs, each with its targets, token file and metrics path.
 */
export async function startPrometheus(opts: {
  scrapeTargets: string[];
  scrapeIntervalSeconds: number;
  binary?: string;
  bearerTokenFile?: string;
  jobName?: string;
  ruleFiles?: string[];
  moreJobs?: ScrapeJob[];
}): Promise<RunningPrometheus> {
  const binary = opts.binary ?? prometheusBinary();
  if (binary === undefined) throw new Error('prometheus not installed — apt-get install prometheus');
  const dir = mkdtempSync(join(tmpdir(), 'sluice-prometheus-'));
  const interval = `${opts.scrapeIntervalSeconds}s`;
  const jobs: ScrapeJob[] = [{ jobName: opts.jobName ?? 'test', targets: opts.scrapeTargets, bearerTokenFile: opts.bearerTokenFile }, ...(opts.moreJobs ?? [])];
  const targetCount = jobs.reduce((n, j) => n + j.targets.length, 0);
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      `  scrape_interval: ${interval}`,
      `  scrape_timeout: ${interval}`,
      `  evaluation_interval: ${interval}`,
      ...(opts.ruleFiles === undefined ? [] : ['rule_files:', ...opts.ruleFiles.map((f) => `  - '${f}'`)]),
      'scrape_configs:',
      ...jobs.flatMap((j) => [
        `  - job_name: ${j.jobName}`,
        ...(j.metricsPath === undefined ? [] : [`    metrics_path: '${j.metricsPath}'`]),
        ...(j.bearerTokenFile === undefined ? [] : ['    authorization:', `      credentials_file: '${j.bearerTokenFile}'`]),
        '    static_configs:',
        `      - targets: [${j.targets.map((t) => `'${t}'`).join(', ')}]`,
      ]),
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const address = `http://127.0.0.1:${port}`;
  const child = spawn(
    binary,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
      '--storage.tsdb.retention.time=1h',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString('utf8')).slice(-8000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await killAndWait(child, exited);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new GiveUp(`prometheus exited with ${child.exitCode} before it was ready: ${stderr.trim()}`);
        const r = await fetch(`${address}/-/ready`).catch(() => undefined);
        return r?.status === 200;
      },
      { timeoutMs: READY_TIMEOUT_MS, what: `prometheus at ${address} to be ready`, detail: () => stderr.trim() },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    address,
    stop,
    waitForTargetsUp: (timeoutMs = 20_000) =>
      waitFor(
        async () => {
          const r = await fetch(`${address}/api/v1/targets`);
          const body = (await r.json()) as { data: { activeTargets: { health: string }[] } };
          const active = body.data.activeTargets;
          return active.length === targetCount && active.every((t) => t.health === 'up');
        },
        { timeoutMs, what: 'all prometheus targets to be up' },
      ).then(() => undefined),
  };
}

async function killAndWait(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
