import { compileCondition } from './condition.js';
import type { Measurement, MeasurementPhase, MetricRunStatus, MetricSpec, ProviderResult, RunPhase } from '../core/analysis.js';

/**
 * Pure judgement of measurements, with Argo Rollouts' rules:
 * - one measurement: a provider error is Error; a provider's "inconclusive" (too little
 *   data) is Inconclusive; failureCondition true → Failed; successCondition true →
 *   Successful, false → Failed (Inconclusive when a failureCondition exists and neither
 *   holds); with no condition a value of `false` is Failed, anything else Successful;
 * - one metric: more Failed than failureLimit → Failed; more Inconclusive than
 *   inconclusiveLimit → Inconclusive (not counting those taken while the provider's
 *   window was still filling up); more consecutive Errors than consecutiveErrorLimit
 *   → Error; `count` measurements taken → Successful; otherwise Running;
 * - one run: Failed beats Error beats Inconclusive beats Running beats Successful.
 *   dryRun metrics are measured and shown but never decide: a run of dry-run metrics
 *   only ends Successful once they are done, so it holds nothing back, but it is no
 *   pass that promotes anything (`decidedByMetrics`).
 */
export function judgeMeasurement(metric: MetricSpec, result: ProviderResult | Error, startedAt: number, finishedAt: number): Measurement {
  const base = { metric: metric.name, startedAt, finishedAt };
  if (result instanceof Error) return { ...base, phase: 'Error', message: result.message };
  const { value, details } = result;
  const m = (phase: MeasurementPhase, message?: string): Measurement => ({
    ...base,
    phase,
    value,
    ...(details ? { details } : {}),
    ...(message ? { message } : {}),
  });
  if (details?.inconclusive) return m('Inconclusive', String(details.reason ?? 'not enough data to decide'));
  try {
    if (metric.failureCondition && compileCondition(metric.failureCondition, 'failureCondition')(value)) {
      return m('Failed', `failureCondition \`${metric.failureCondition}\` holds for ${show(value)}`);
    }
    if (metric.successCondition) {
      if (compileCondition(metric.successCondition, 'successCondition')(value)) return m('Successful');
      return metric.failureCondition
        ? m('Inconclusive', `neither condition holds for ${show(value)}`)
        : m('Failed', `successCondition \`${metric.successCondition}\` is false for ${show(value)}`);
    }
    if (!metric.failureCondition && value === false) return m('Failed', 'the check answered false');
    return m('Successful');
  } catch (err) {
    return m('Error', (err as Error).message);
  }
}

export function metricStatus(metric: MetricSpec, measurements: Measurement[]): MetricRunStatus {
  const s: MetricRunStatus = {
    name: metric.name,
    phase: 'Running',
    measured: measurements.length,
    successful: 0,
    failed: 0,
    inconclusive: 0,
    errors: 0,
    consecutiveErrors: 0,
    dryRun: metric.dryRun,
  };
  for (const x of measurements) {
    if (x.phase === 'Successful') s.successful++;
    else if (x.phase === 'Failed') s.failed++;
    else if (x.phase === 'Inconclusive') {
      // While a provider's window is still filling, too little data is no verdict yet.
      if (!x.details?.windowFilling) s.inconclusive++;
    } else s.errors++;
    s.consecutiveErrors = x.phase === 'Error' ? s.consecutiveErrors + 1 : 0;
  }
  const last = measurements.at(-1);
  if (last) s.last = last;
  // Measurements taken while the window was filling count toward neither limit nor count.
  if (s.failed > metric.failureLimit) {
    s.phase = 'Failed';
    s.message = `${metric.name}: ${s.failed} failed measurement(s) (limit ${metric.failureLimit}); last: ${lastMessage(measurements, 'Failed')}`;
  } else if (s.inconclusive > metric.inconclusiveLimit) {
    s.phase = 'Inconclusive';
    s.message = `${metric.name}: ${s.inconclusive} inconclusive measurement(s) (limit ${metric.inconclusiveLimit}); last: ${lastMessage(measurements, 'Inconclusive')}`;
  } else if (s.consecutiveErrors > metric.consecutiveErrorLimit) {
    s.phase = 'Error';
    s.message = `${metric.name}: ${s.consecutiveErrors} consecutive measurement errors (limit ${metric.consecutiveErrorLimit}); last: ${last?.message}`;
  } else if (metric.count > 0 && measurements.filter((x) => !x.details?.windowFilling).length >= metric.count) {
    s.phase = 'Successful';
  }
  return s;
}

const RANK: Record<RunPhase, number> = { Failed: 5, Error: 4, Inconclusive: 3, Running: 2, Pending: 1, Successful: 0 };

export function runPhase(metrics: MetricRunStatus[]): { phase: RunPhase; message: string } {
  const deciding = metrics.filter((m) => !m.dryRun);
  if (deciding.length === 0) {
    const done = metrics.every((m) => m.phase !== 'Running');
    return {
      phase: done ? 'Successful' : 'Running',
      message: `only dry-run metrics (${metrics.map((m) => `${m.name} ${m.phase}`).join(', ')}): shown for information, they decide nothing`,
    };
  }
  const worst = deciding.reduce((a, b) => (RANK[b.phase] > RANK[a.phase] ? b : a));
  if (worst.phase === 'Successful') return { phase: 'Successful', message: `all ${deciding.length} metric(s) successful` };
  if (worst.phase === 'Running') return { phase: 'Running', message: deciding.map((m) => `${m.name} ${m.measured} measured`).join(', ') };
  return { phase: worst.phase, message: worst.message ?? `${worst.name}: ${worst.phase}` };
}

/** Whether a run's verdict came from at least one metric that is not dry-run. */
export function decidedByMetrics(metrics: MetricRunStatus[]): boolean {
  return metrics.some((m) => !m.dryRun);
}

function lastMessage(ms: Measurement[], phase: MeasurementPhase): string {
  return [...ms].reverse().find((m) => m.phase === phase)?.message ?? '';
}

export function show(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  return JSON.stringify(value) ?? String(value);
}
