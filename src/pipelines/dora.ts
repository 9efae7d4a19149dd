/**
 * DORA / Four Keys metrics from sluice's own release history (docs/dora.md has the
 * definitions). Pure: the caller passes releases, stage states and pipelines and the period;
 * nothing here reads a clock or a store.
 *
 * A deployment is one service of a release entering a stage (`enteredAt` in [since, until)),
 * counted in that stage's environment. It failed when the stage state reached Failed
 * (`failedAt`), or when a later release that is a hotfix of it (`hotfixOf`) entered a stage of
 * the same environment. Lead time runs from the commit (`commitAt`, else `createdAt`) to
 * `healthyAt`; time to restore from `failedAt` to `restoredAt`.
 */
import type { PipelineRecord, ReleaseRecord, ReleaseStageState } from '../core/pipeline.js';
import { UserError } from '../util/errors.js';

export interface DoraInput {
  releases: ReleaseRecord[];
  states: ReleaseStageState[];
  pipelines: PipelineRecord[];
  /** The period, ms: [since, until). */
  since: number;
  until: number;
  /** Only this environment's rows. */
  environment?: string;
}

export interface DoraRow {
  /** A service, or ALL_SERVICES for the environment's total. */
  service: string;
  environment: string;
  deployments: number;
  perWeek: number;
  failed: number;
  /** failed ÷ deployments; undefined without deployments. */
  changeFailureRate?: number;
  successRate?: number;
  leadTimeSeconds?: { median: number; p90: number };
  timeToRestoreSeconds?: { median: number; max: number };
  restored: number;
}

/** The playbook's targets (PROC-BACK-005, "Metricas del Proceso"). */
export interface DoraTargets {
  /** More than this share of deployments succeed. */
  successRate: number;
  /** The median time to restore stays under this. */
  timeToRestoreSeconds: number;
  /** Less than this share of deployments fail. */
  changeFailureRate: number;
  /** Deployments a week: at least `min` (the playbook plans 2–3; more is not counted against). */
  perWeek: { min: number; max: number };
  /** The median lead time stays under this (merge to production). */
  leadTimeSeconds: number;
}

export interface DoraReport {
  since: number;
  until: number;
  rows: DoraRow[];
  targets: DoraTargets;
}

export const ALL_SERVICES = 'all services';
export const DORA_TARGETS: DoraTargets = {
  successRate: 0.95,
  timeToRestoreSeconds: 30 * 60,
  changeFailureRate: 0.1,
  perWeek: { min: 2, max: 3 },
  leadTimeSeconds: 7 * 86_400,
};

const WEEK_MS = 7 * 86_400_000;

/** The median of a non-empty list (the mean of the two middle values when even). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The nearest-rank percentile of a non-empty list: the value at rank ⌈p·n⌉. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(p * s.length) - 1)]!;
}

interface Deployment {
  service: string;
  environment: string;
  failed: boolean;
  leadSeconds?: number;
  restoreSeconds?: number;
}

function row(service: string, environment: string, ds: Deployment[], weeks: number): DoraRow {
  const failed = ds.filter((d) => d.failed).length;
  const leads = ds.flatMap((d) => (d.leadSeconds !== undefined ? [d.leadSeconds] : []));
  const restores = ds.flatMap((d) => (d.restoreSeconds !== undefined ? [d.restoreSeconds] : []));
  const cfr = ds.length > 0 ? failed / ds.length : undefined;
  return {
    service,
    environment,
    deployments: ds.length,
    perWeek: weeks > 0 ? ds.length / weeks : 0,
    failed,
    ...(cfr !== undefined ? { changeFailureRate: cfr, successRate: 1 - cfr } : {}),
    ...(leads.length > 0 ? { leadTimeSeconds: { median: median(leads), p90: percentile(leads, 0.9) } } : {}),
    ...(restores.length > 0 ? { timeToRestoreSeconds: { median: median(restores), max: Math.max(...restores) } } : {}),
    restored: restores.length,
  };
}

export function computeDora(input: DoraInput): DoraReport {
  const { since, until } = input;
  if (!Number.isFinite(since) || !Number.isFinite(until) || until <= since) {
    const show = (t: number): string => (Number.isFinite(t) ? new Date(t).toISOString() : String(t));
    throw new UserError(`DORA period: until ${show(until)} is not after since ${show(since)} — give a since earlier than until`);
  }
  const releases = new Map(input.releases.map((r) => [r.id, r]));
  const pipelines = new Map(input.pipelines.map((p) => [p.name, p.spec]));
  const envOf = (s: ReleaseStageState): string | undefined => {
    const release = releases.get(s.release);
    const spec = release && pipelines.get(release.pipeline);
    return spec?.stages.find((st) => st.name === s.stage)?.environment;
  };
  // Environments a hotfix of a release reached: that release failed there.
  const hotfixedIn = new Map<string, Set<string>>();
  for (const s of input.states) {
    const fixed = releases.get(s.release)?.hotfixOf;
    const env = envOf(s);
    if (fixed === undefined || env === undefined || s.enteredAt === undefined) continue;
    if (!hotfixedIn.has(fixed)) hotfixedIn.set(fixed, new Set());
    hotfixedIn.get(fixed)!.add(env);
  }
  const deployments: Deployment[] = [];
  for (const s of input.states) {
    const release = releases.get(s.release);
    const environment = envOf(s);
    if (!release || environment === undefined || s.enteredAt === undefined || s.enteredAt < since || s.enteredAt >= until) continue;
    if (input.environment !== undefined && environment !== input.environment) continue;
    const failed = s.failedAt !== undefined || (hotfixedIn.get(release.id)?.has(environment) ?? false);
    const from = release.commitAt ?? release.createdAt;
    for (const { service } of release.services) {
      deployments.push({
        service,
        environment,
        failed,
        ...(s.healthyAt !== undefined ? { leadSeconds: (s.healthyAt - from) / 1000 } : {}),
        ...(s.failedAt !== undefined && s.restoredAt !== undefined ? { restoreSeconds: (s.restoredAt - s.failedAt) / 1000 } : {}),
      });
    }
  }
  // Every (service, environment) the pipelines deploy gets a row, deployed in the period or not.
  const keys = new Map<string, Set<string>>();
  const add = (env: string, service: string): void => {
    if (input.environment !== undefined && env !== input.environment) return;
    if (!keys.has(env)) keys.set(env, new Set());
    keys.get(env)!.add(service);
  };
  for (const p of pipelines.values()) for (const st of p.stages) for (const service of p.services) add(st.environment, service);
  for (const d of deployments) add(d.environment, d.service);
  const weeks = (until - since) / WEEK_MS;
  const rows: DoraRow[] = [];
  for (const env of [...keys.keys()].sort()) {
    const inEnv = deployments.filter((d) => d.environment === env);
    for (const service of [...keys.get(env)!].sort()) {
      rows.push(
        row(
          service,
          env,
          inEnv.filter((d) => d.service === service),
          weeks,
        ),
      );
    }
    rows.push(row(ALL_SERVICES, env, inEnv, weeks));
  }
  return { since, until, rows, targets: DORA_TARGETS };
}

/** A duration for people: seconds, minutes, hours or days. */
export function humanDuration(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 2 * 86_400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} d`;
}

const NONE = '—';
const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
const mark = (ok: boolean): string => (ok ? ' ✓' : ' ✗');

/** A plain text table: columns padded to their widest cell, the first left-aligned, the rest right-aligned. */
export function textTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? '')].length)));
  const pad = (s: string, w: number, left: boolean): string => (left ? s + ' '.repeat(w - [...s].length) : ' '.repeat(w - [...s].length) + s);
  return rows
    .map((r) =>
      r
        .map((c, i) => pad(c, widths[i]!, i === 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** One table per environment: a row per metric, the target, then a column per service and the total; ✓/✗ against each target. */
export function renderDora(report: DoraReport): string {
  const t = report.targets;
  const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
  const weeks = (report.until - report.since) / WEEK_MS;
  const head = `DORA metrics ${day(report.since)} → ${day(report.until)} (${weeks.toFixed(1)} weeks)`;
  if (report.rows.length === 0) return `${head}\nno environments\n`;
  const metrics: { name: string; target: string; cell(r: DoraRow): string }[] = [
    { name: 'deployments', target: NONE, cell: (r) => String(r.deployments) },
    {
      name: 'deploys per week',
      target: `≥ ${t.perWeek.min} (plan ${t.perWeek.min}–${t.perWeek.max})`,
      cell: (r) => r.perWeek.toFixed(1) + mark(r.perWeek >= t.perWeek.min),
    },
    {
      name: 'change failure rate',
      target: `< ${pct(t.changeFailureRate)}`,
      cell: (r) => (r.changeFailureRate === undefined ? NONE : pct(r.changeFailureRate) + mark(r.changeFailureRate < t.changeFailureRate)),
    },
    {
      name: 'success rate',
      target: `> ${pct(t.successRate)}`,
      cell: (r) => (r.successRate === undefined ? NONE : pct(r.successRate) + mark(r.successRate > t.successRate)),
    },
    {
      name: 'lead time median / p90',
      target: `< ${humanDuration(t.leadTimeSeconds)}`,
      cell: (r) =>
        r.leadTimeSeconds === undefined
          ? NONE
          : `${humanDuration(r.leadTimeSeconds.median)} / ${humanDuration(r.leadTimeSeconds.p90)}` + mark(r.leadTimeSeconds.median < t.leadTimeSeconds),
    },
    {
      name: 'time to restore median / max',
      target: `< ${humanDuration(t.timeToRestoreSeconds)}`,
      cell: (r) =>
        r.timeToRestoreSeconds === undefined
          ? NONE
          : `${humanDuration(r.timeToRestoreSeconds.median)} / ${humanDuration(r.timeToRestoreSeconds.max)}` +
            mark(r.timeToRestoreSeconds.median < t.timeToRestoreSeconds),
    },
    { name: 'failed / restored', target: NONE, cell: (r) => `${r.failed} / ${r.restored}` },
  ];
  const envs = [...new Set(report.rows.map((r) => r.environment))];
  const blocks = envs.map((env) => {
    const rows = report.rows.filter((r) => r.environment === env);
    return `${env}\n${textTable([['metric', 'target', ...rows.map((r) => r.service)], ...metrics.map((m) => [m.name, m.target, ...rows.map((r) => m.cell(r))])])}`;
  });
  return `${head}\n\n${blocks.join('\n\n')}\n`;
}
