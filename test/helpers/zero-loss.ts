/**
 * The zero-lost-requests suite (issue 4, item 8): named scenarios, each a release or a
 * failure under an open-loop load at a fixed rate (127.0.0.1 only, bounded in rate and
 * time), reported as requests sent, 2xx, other statuses, connection errors and p99 latency.
 * Every scenario must lose no request; recreate's gap is the one documented exception, and
 * only as its maintenance page (503 with Retry-After), counted apart.
 *
 * Used by test/e2e/zero-loss.test.ts (modest rate) and bench/zero-loss.mjs (higher rate).
 */
import type { RolloutView } from '../../src/core/rollout.js';
import { LoadGenerator, type LoadReport, type Sample } from './load.js';
import { freePort } from './ports.js';
import { type SluiceUnderTest, healthyOn } from './sluice.js';
import { rolloutManifest } from './manifest.js';
import { sleep, waitFor } from './wait.js';

export interface ScenarioContext {
  sluice: SluiceUnderTest;
  /** Requests per second of the load. */
  rate: number;
  /** The rollout's name, unique to the scenario. */
  name: string;
  port: number;
  /** For a preview or canary listener. */
  extraPort: number;
}

export interface ScenarioRun {
  report: LoadReport;
  /** Expectations of the scenario other than zero loss that did not hold. */
  problems: string[];
  /** One line for the table: what happened (times, pids…). */
  note: string;
  /** recreate only: the maintenance answer its gap may be served with. */
  maintenance?: { body: string; retryAfter: string };
}

export interface Scenario {
  name: string;
  run(ctx: ScenarioContext): Promise<ScenarioRun>;
}

export interface ScenarioResult {
  name: string;
  rate: number;
  sent: number;
  ok2xx: number;
  /** recreate's maintenance page (503 + Retry-After): the documented gap, not a loss. */
  maintenance: number;
  /** Any other status than 2xx (and the allowed maintenance page). */
  otherStatus: number;
  connectionErrors: number;
  p99Ms: number;
  /** Requests that did not get a 2xx or the allowed maintenance page. */
  lost: number;
  problems: string[];
  note: string;
  /** Up to five failed requests, for the error message. */
  firstFailures: string[];
}

const MAX_LOAD_SECONDS = 120;

function load(ctx: ScenarioContext, path?: string): LoadGenerator {
  return new LoadGenerator(ctx.port, ctx.rate, MAX_LOAD_SECONDS, path);
}

function manifest(ctx: ScenarioContext, version: string, strategy: string, env?: Record<string, string>): string {
  return rolloutManifest({ name: ctx.name, version, listen: ctx.port, strategy, env });
}

async function deployV1(ctx: ScenarioContext, strategy: string): Promise<void> {
  await ctx.sluice.apply(`${ctx.name}.yaml`, manifest(ctx, 'v1', strategy));
  await waitFor(ctx.sluice.rollout(ctx.name, healthyOn(1)), { timeoutMs: 60_000, what: 'v1 healthy' });
}

async function release(ctx: ScenarioContext, version: string, strategy: string, env?: Record<string, string>): Promise<void> {
  await ctx.sluice.apply(`${ctx.name}.yaml`, manifest(ctx, version, strategy, env));
}

async function cli(ctx: ScenarioContext, args: string[]): Promise<string> {
  const r = await ctx.sluice.cli(args);
  if (r.code !== 0) throw new Error(`sluice ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

function onlyVersion(samples: Sample[], version: string, what: string): string[] {
  const other = samples.filter((s) => s.version !== '' && s.version !== version);
  if (samples.length === 0) return [`${what}: no request to look at`];
  return other.length === 0 ? [] : [`${what}: ${other.length} of ${samples.length} answered by ${other[0].version}, not ${version}`];
}

/** Deploys v1, then applies v2 under load; `during` waits for the release (and acts on it). */
async function releaseUnderLoad(ctx: ScenarioContext, strategy: string, during: (l: LoadGenerator) => Promise<void>): Promise<LoadReport> {
  await deployV1(ctx, strategy);
  const l = load(ctx);
  await sleep(500);
  await release(ctx, 'v2', strategy);
  await during(l);
  await sleep(500);
  return l.stop();
}

/** Both versions served during the release, and it ended on v2. */
function mixedThenV2(ctx: ScenarioContext, report: LoadReport): string[] {
  const problems = onlyVersion(report.samples.slice(-Math.ceil(ctx.rate / 4)), 'v2', 'the last 250 ms');
  if (!(report.byVersion.v1 > 0 && report.byVersion.v2 > 0)) problems.push(`versions did not mix: ${JSON.stringify(report.byVersion)}`);
  return problems;
}

function versions(report: LoadReport): string {
  return `v1 ${report.byVersion.v1 ?? 0}, v2 ${report.byVersion.v2 ?? 0}`;
}

const paused = (v: RolloutView): boolean => v.status.reason === 'CanaryPauseStep' && !v.status.aborted;

export const SCENARIOS: Scenario[] = [
  {
    name: 'recreate',
    async run(ctx) {
      const strategy = `    recreate:\n      maintenance: {body: "down for a moment", retryAfterSeconds: 2}\n`;
      await deployV1(ctx, strategy);
      const l = load(ctx);
      await sleep(500);
      await release(ctx, 'v2', strategy);
      await waitFor(ctx.sluice.rollout(ctx.name, healthyOn(2)), { timeoutMs: 60_000, what: 'v2 healthy' });
      await sleep(500);
      const report = await l.stop();
      const gap = report.samples.filter((s) => s.status === 503);
      const firstV2 = report.samples.findIndex((s) => s.version === 'v2');
      const problems = firstV2 < 0 ? ['v2 never answered'] : onlyVersion(report.samples.slice(firstV2), 'v2', 'after the first v2 answer');
      const span = gap.length > 0 ? `${(gap.at(-1)!.sentAt - gap[0].sentAt).toFixed(0)} ms` : 'none';
      return {
        report,
        problems,
        note: `gap served by the maintenance page: ${gap.length} requests over ${span}`,
        maintenance: { body: 'down for a moment', retryAfter: '2' },
      };
    },
  },
  {
    name: 'rolling',
    async run(ctx) {
      const strategy = `    rolling: {maxSurge: 1, maxUnavailable: 0}\n`;
      const report = await releaseUnderLoad(ctx, strategy, async () => {
        await waitFor(ctx.sluice.rollout(ctx.name, healthyOn(2)), { timeoutMs: 60_000, what: 'v2 healthy' });
      });
      return { report, problems: mixedThenV2(ctx, report), note: versions(report) };
    },
  },
  {
    name: 'blue-green',
    async run(ctx) {
      const strategy = `    blueGreen: {previewListen: "127.0.0.1:${ctx.extraPort}", autoPromotionEnabled: true, scaleDownDelaySeconds: 1}\n`;
      let switched: RolloutView | undefined;
      let switchedAt = 0;
      const report = await releaseUnderLoad(ctx, strategy, async (l) => {
        switched = await waitFor(
          ctx.sluice.rollout(ctx.name, (v) => v.status.stableRevision === 2),
          { timeoutMs: 60_000, what: 'switched' },
        );
        switchedAt = l.now();
        await waitFor(ctx.sluice.rollout(ctx.name, healthyOn(2)), { timeoutMs: 60_000, what: 'v2 healthy alone' });
      });
      // The status shows the switch a moment before the router acknowledges the table (and this
      // poll may see it late on a busy machine): strategies.test.ts checks the exact switch.
      const problems = onlyVersion(
        report.samples.filter((s) => s.sentAt > switchedAt + 1000),
        'v2',
        '1 s after the switch',
      );
      if (switched?.status.activeRevision !== 2) problems.push(`active revision ${switched?.status.activeRevision} after the switch`);
      return { report, problems, note: versions(report) };
    },
  },
  {
    name: 'canary',
    async run(ctx) {
      const strategy = `    canary:\n      canaryListen: 127.0.0.1:${ctx.extraPort}\n      steps: [{setWeight: 25}, {pause: {duration: 2s}}, {setWeight: 75}, {pause: {duration: 2s}}]\n`;
      const report = await releaseUnderLoad(ctx, strategy, async () => {
        await waitFor(ctx.sluice.rollout(ctx.name, healthyOn(2)), { timeoutMs: 60_000, what: 'promoted through its steps' });
      });
      return { report, problems: mixedThenV2(ctx, report), note: versions(report) };
    },
  },
  {
    name: 'shadow',
    async run(ctx) {
      const strategy = `    shadow:\n      mirror: {name: dark, compare: {ignorePaths: [$.pid, $.version]}}\n      shadowReplicas: 1\n      durationSeconds: 2s\n`;
      let shadowingAt = 0;
      const report = await releaseUnderLoad(ctx, strategy, async (l) => {
        await waitFor(
          ctx.sluice.rollout(ctx.name, (v) => v.status.reason === 'Shadowing'),
          { timeoutMs: 60_000, what: 'shadowing' },
        );
        shadowingAt = l.now();
        await waitFor(ctx.sluice.rollout(ctx.name, healthyOn(2)), { timeoutMs: 60_000, what: 'v2 took over after shadowing' });
      });
      // Until the switch every client is answered by v1, whatever the copies to v2 do.
      const problems = onlyVersion(
        report.samples.filter((s) => s.sentAt < shadowingAt + 1000),
        'v1',
        'while shadowing',
      );
      problems.push(...onlyVersion(report.samples.slice(-Math.ceil(ctx.rate / 4)), 'v2', 'the last 250 ms'));
      return { report, problems, note: versions(report) };
    },
  },
  {
    name: 'A/B test, then promote --variant',
    async run(ctx) {
      const strategy = `    abTest:\n      variants: [{name: a, weight: 50}, {name: b, weight: 50}]\n`;
      const report = await releaseUnderLoad(ctx, strategy, async () => {
        await waitFor(
          ctx.sluice.rollout(ctx.name, (v) => v.status.reason === 'Experimenting'),
          { timeoutMs: 60_000, what: 'experimenting' },
        );
        await sleep(1500);
        await cli(ctx, ['promote', ctx.name, '--variant', 'b']);
        await waitFor(ctx.sluice.rollout(ctx.name, healthyOn(2)), { timeoutMs: 60_000, what: 'variant b promoted' });
      });
      return { report, problems: mixedThenV2(ctx, report), note: versions(report) };
    },
  },
  {
    name: 'abort during canary',
    async run(ctx) {
      const strategy = `    canary:\n      steps: [{setWeight: 50}, {pause: {}}]\n`;
      await deployV1(ctx, strategy);
      const l = load(ctx);
      await sleep(500);
      await release(ctx, 'v2', strategy);
      await waitFor(ctx.sluice.rollout(ctx.name, paused), { timeoutMs: 60_000, what: 'canary paused at 50 %' });
      await sleep(1000);
      await cli(ctx, ['abort', ctx.name]);
      const abortedAt = l.now();
      await waitFor(
        ctx.sluice.rollout(ctx.name, (v) => v.status.phase === 'Degraded' && v.instances.every((i) => i.revision === 1)),
        { timeoutMs: 60_000, what: 'aborted, v2 stopped' },
      );
      await sleep(1000);
      const report = await l.stop();
      // The abort applies the table before the CLI returns; allow for requests already on their way.
      const problems = onlyVersion(
        report.samples.filter((s) => s.sentAt > abortedAt + 200),
        'v1',
        'after the abort',
      );
      if (!(report.byVersion.v2 > 0)) problems.push('v2 never answered before the abort');
      return { report, problems, note: `v2 answered ${report.byVersion.v2 ?? 0} before the abort` };
    },
  },
  {
    name: 'undo after promotion',
    async run(ctx) {
      const strategy = `    canary:\n      steps: [{setWeight: 50}, {pause: {duration: 1s}}]\n`;
      await deployV1(ctx, strategy);
      const l = load(ctx);
      await sleep(500);
      await release(ctx, 'v2', strategy);
      const promoted = await waitFor(ctx.sluice.rollout(ctx.name, healthyOn(2)), { timeoutMs: 60_000, what: 'v2 promoted' });
      await sleep(500);
      await cli(ctx, ['undo', ctx.name]);
      const done = await waitFor(
        ctx.sluice.rollout(
          ctx.name,
          (v) =>
            v.status.phase === 'Healthy' &&
            v.status.stableRevision! > promoted.status.stableRevision! &&
            v.instances.filter((i) => i.phase === 'Ready').length === 3 &&
            v.instances.every((i) => i.revision === v.status.stableRevision),
        ),
        { timeoutMs: 60_000, what: 'back on v1 through the steps' },
      );
      await sleep(500);
      const report = await l.stop();
      const stable = done.revisions.find((r) => r.number === done.status.stableRevision);
      const problems = onlyVersion(report.samples.slice(-Math.ceil(ctx.rate / 4)), 'v1', 'the last 250 ms');
      if (stable?.template.version !== 'v1') problems.push(`stable template is ${stable?.template.version}, not v1`);
      return { report, problems, note: `v1 → v2 → undo: revision ${done.status.stableRevision} runs v1` };
    },
  },
  {
    name: 'router restart mid-canary',
    async run(ctx) {
      const strategy = `    canary:\n      steps: [{setWeight: 30}, {pause: {}}]\n`;
      await deployV1(ctx, strategy);
      const l = load(ctx);
      await sleep(500);
      await release(ctx, 'v2', strategy);
      await waitFor(ctx.sluice.rollout(ctx.name, paused), { timeoutMs: 60_000, what: 'canary paused at 30 %' });
      await sleep(1000);
      const out = await cli(ctx, ['router', 'restart']);
      const restartedAt = l.now();
      const m = /router restarted: pid (\d+) → (\d+)/.exec(out);
      const problems: string[] = [];
      if (m === null || m[1] === m[2]) problems.push(`unexpected output of sluice router restart: ${out.trim()}`);
      await sleep(1500);
      const after = l.samples.filter((s) => s.sentAt > restartedAt);
      if (!after.some((s) => s.version === 'v2') || !after.some((s) => s.version === 'v1')) problems.push('the canary split did not survive the restart');
      await cli(ctx, ['promote', ctx.name]);
      await waitFor(ctx.sluice.rollout(ctx.name, healthyOn(2)), { timeoutMs: 60_000, what: 'v2 healthy' });
      await sleep(500);
      const report = await l.stop();
      return { report, problems, note: m === null ? '' : `router pid ${m[1]} → ${m[2]}` };
    },
  },
  {
    name: 'kill -9 of the control plane',
    async run(ctx) {
      const strategy = `    canary:\n      steps: [{setWeight: 30}, {pause: {}}]\n`;
      await deployV1(ctx, strategy);
      const l = load(ctx);
      await sleep(500);
      await release(ctx, 'v2', strategy);
      const before = await waitFor(ctx.sluice.rollout(ctx.name, paused), { timeoutMs: 60_000, what: 'canary paused at 30 %' });
      await sleep(500);
      await ctx.sluice.kill9();
      const killedAt = Date.now();
      await sleep(2000);
      await ctx.sluice.up();
      const downMs = Date.now() - killedAt;
      const resumed = await ctx.sluice.get(ctx.name);
      const problems: string[] = [];
      if (resumed.status.stepIndex !== before.status.stepIndex)
        problems.push(`step ${resumed.status.stepIndex} after the restart, was ${before.status.stepIndex}`);
      await cli(ctx, ['promote', ctx.name]);
      await waitFor(ctx.sluice.rollout(ctx.name, healthyOn(2)), { timeoutMs: 60_000, what: 'v2 healthy' });
      await sleep(500);
      const report = await l.stop();
      return { report, problems, note: `control plane down for ${(downMs / 1000).toFixed(1)} s mid-release` };
    },
  },
  {
    name: 'instance crash',
    async run(ctx) {
      const strategy = `    rolling: {maxSurge: 1, maxUnavailable: 0}\n`;
      await deployV1(ctx, strategy);
      const l = load(ctx);
      await sleep(1000);
      const v = await ctx.sluice.get(ctx.name);
      const victim = v.instances.find((i) => i.phase === 'Ready' && i.pid !== undefined)!;
      const killedAt = Date.now();
      process.kill(victim.pid!, 'SIGKILL');
      const back = await waitFor(
        ctx.sluice.rollout(ctx.name, (x) => {
          const i = x.instances.find((y) => y.id === victim.id);
          return i !== undefined && i.restarts >= 1 && i.phase === 'Ready' && i.pid !== victim.pid;
        }),
        { timeoutMs: 60_000, what: 'the instance restarted and ready' },
      );
      const backMs = Date.now() - killedAt;
      await sleep(1000);
      const report = await l.stop();
      const problems = back.status.phase === 'Healthy' ? [] : [`rollout ${back.status.phase} after the crash`];
      return { report, problems, note: `SIGKILL of pid ${victim.pid}; restarted and ready after ${(backMs / 1000).toFixed(1)} s` };
    },
  },
  {
    name: 'slow-starting revision',
    async run(ctx) {
      const delayMs = 3000;
      const strategy = `    rolling: {maxSurge: 1, maxUnavailable: 0}\n`;
      await deployV1(ctx, strategy);
      const l = load(ctx);
      await sleep(500);
      const appliedAt = l.now();
      await release(ctx, 'v2', strategy, { STARTUP_DELAY_MS: String(delayMs) });
      const firstReady = await waitFor(
        ctx.sluice.rollout(ctx.name, (v) => v.instances.some((i) => i.revision === 2 && i.phase === 'Ready')),
        { timeoutMs: 60_000, what: 'a v2 instance ready' },
      );
      const readyAt = l.now();
      await waitFor(ctx.sluice.rollout(ctx.name, healthyOn(2)), { timeoutMs: 90_000, what: 'v2 healthy' });
      await sleep(500);
      const report = await l.stop();
      const problems: string[] = [];
      const firstV2 = report.samples.find((s) => s.version === 'v2');
      if (firstV2 === undefined) problems.push('v2 never answered');
      else if (firstV2.doneAt < appliedAt + delayMs)
        problems.push(`a v2 answer ${(firstV2.doneAt - appliedAt).toFixed(0)} ms after the apply, before its ${delayMs} ms start`);
      if (readyAt - appliedAt < delayMs) problems.push(`a v2 instance was ready ${(readyAt - appliedAt).toFixed(0)} ms after the apply`);
      void firstReady;
      return {
        report,
        problems,
        note: `v2 listens ${delayMs / 1000} s after start; first v2 answer ${firstV2 ? ((firstV2.doneAt - appliedAt) / 1000).toFixed(1) : '-'} s after the apply`,
      };
    },
  },
];

/** Runs one scenario on its own rollout and ports, then deletes the rollout. */
export async function runScenario(sluice: SluiceUnderTest, scenario: Scenario, rate: number, index: number): Promise<ScenarioResult> {
  const name = `zl-${index}-${scenario.name.replace(/[^a-z0-9]+/g, '-').replace(/-+$/, '')}`.slice(0, 40);
  const ctx: ScenarioContext = { sluice, rate, name, port: await freePort(), extraPort: await freePort() };
  let run: ScenarioRun;
  try {
    run = await scenario.run(ctx);
  } finally {
    await sluice.cli(['delete', name]).catch(() => undefined);
  }
  return summarizeRun(scenario.name, rate, run);
}

export function summarizeRun(name: string, rate: number, run: ScenarioRun): ScenarioResult {
  const r = run.report;
  const m = run.maintenance;
  let maintenance = 0;
  let otherStatus = 0;
  let connectionErrors = 0;
  const failures: string[] = [];
  for (const s of r.samples) {
    if (s.error !== undefined) connectionErrors++;
    else if (s.status >= 200 && s.status < 300) continue;
    else if (m !== undefined && s.status === 503 && s.body === m.body && s.retryAfter === m.retryAfter) {
      maintenance++;
      continue;
    } else otherStatus++;
    if (failures.length < 5) failures.push(`${s.sentAt.toFixed(0)} ms: ${s.error ?? `${s.status} ${(s.body ?? '').trim().slice(0, 120)}`}`);
  }
  return {
    name,
    rate,
    sent: r.sent,
    ok2xx: r.ok2xx,
    maintenance,
    otherStatus,
    connectionErrors,
    p99Ms: r.p99Ms,
    lost: otherStatus + connectionErrors,
    problems: run.problems,
    note: run.note,
    firstFailures: failures,
  };
}

export function passed(r: ScenarioResult): boolean {
  return r.lost === 0 && r.problems.length === 0 && r.sent > 0 && r.ok2xx + r.maintenance === r.sent;
}

export function markdownTable(results: ScenarioResult[]): string {
  const rows = results.map(
    (r) =>
      `| ${r.name} | ${r.sent} | ${r.ok2xx} | ${r.maintenance > 0 ? `${r.maintenance} (maintenance 503)` : 0} | ${r.otherStatus} | ${r.connectionErrors} | ${r.p99Ms.toFixed(1)} | ${passed(r) ? 'ok' : `**FAILED**${r.problems.length > 0 ? `: ${r.problems.join('; ')}` : ''}`} | ${r.note} |`,
  );
  return [
    '| scenario | sent | 2xx | documented gap | other statuses | connection errors | p99 (ms) | verdict | notes |',
    '|---|---:|---:|---:|---:|---:|---:|---|---|',
    ...rows,
  ].join('\n');
}
