/**
 * Pure rendering of experiments for `sluice experiment …` (render.ts style: data in, text
 * out, `now` passed in). Numbers go through src/experiments/report/format.ts, the same
 * formatting the HTML report uses.
 */
import type { ExperimentReport, GuardrailReport, MetricReport, Recommendation } from '../core/experiment.js';
import {
  COMPARISON_COLUMNS,
  comparisonRows,
  controlOf,
  count,
  isoMinute,
  metricValue,
  num,
  pct,
  shares,
  srmTest,
  signedPct,
  tick,
} from '../experiments/report/format.js';
import type { ExperimentSummary } from '../api/client.js';
import type { ExperimentPlan } from './experiment-plan.js';
import { formatAge, renderTable } from './render.js';

export function renderExperimentList(items: ExperimentSummary[], now: number): string {
  if (items.length === 0) return 'no experiments yet: an A/B test with `experiment.metrics` starts one';
  return renderTable(
    ['ROLLOUT', 'EXPERIMENT', 'VERDICT', 'USERS', 'UPDATED'],
    items.map((i) => [i.rollout, i.experiment, i.verdict, count(i.users), `${formatAge(now - i.at)} ago`]),
  );
}

/** "SHIP B: reason (final)". */
export function recommendationLine(r: Recommendation): string {
  return `${r.verdict}${r.variant !== undefined ? ` ${r.variant}` : ''}: ${r.reason}${r.final ? ' (final)' : ''}`;
}

export function srmLine(srm: ExperimentReport['srm']): string {
  const test = `${srmTest(srm)}`;
  return srm.mismatch
    ? `MISMATCH — ${test}: users do not split as the weights say (assignment or logging is broken); no SHIP until it is fixed`
    : `ok — ${test}`;
}

function variantTable(report: ExperimentReport): string {
  const control = controlOf(report);
  const share = new Map(shares(report).map((s) => [s.variant, s]));
  return renderTable(
    ['VARIANT', 'REVISION', 'WEIGHT', 'USERS', 'SHARE', 'EXPECTED'],
    report.variants.map((v) => [
      v.variant === control ? `${v.variant} (control)` : v.variant,
      String(v.revision),
      `${v.weight}%`,
      count(v.users),
      pct(share.get(v.variant)!.share),
      pct(share.get(v.variant)!.expected),
    ]),
  );
}

function metricTitle(m: MetricReport): string {
  const better = m.direction === 'higher' ? 'higher is better' : 'lower is better';
  return `Metric ${m.name} (${m.kind}, ${better}${m.primary ? ', primary' : ''})`;
}

function metricTables(m: MetricReport, control: string | undefined): string {
  const values = renderTable(
    ['VARIANT', 'USERS', 'CONVERTED', m.kind === 'binomial' ? 'RATE' : 'MEAN', 'SD'],
    m.variants.map((v) => [v.variant, count(v.users), count(v.converted), metricValue(m.kind, v.mean), num(v.sd)]),
  );
  if (m.comparisons.length === 0) return values;
  const comparisons = renderTable(
    COMPARISON_COLUMNS.map((c) => c.toUpperCase()),
    comparisonRows(m, control),
  );
  return `${values}\n\n${comparisons}`;
}

function guardrailTable(g: GuardrailReport[]): string {
  return renderTable(
    ['VARIANT', 'REQUESTS', 'ERRORS', 'P95', 'STATUS'],
    g.map((r) => [
      r.variant,
      count(r.requests),
      pct(r.errorRate),
      r.p95LatencyMs === null ? '-' : `${count(r.p95LatencyMs)} ms`,
      r.violated ? `VIOLATED: ${r.violated}` : 'ok',
    ]),
  );
}

/** Where the test stands: `sluice experiment status NAME`. */
export function renderExperimentStatus(report: ExperimentReport, now: number): string {
  const lines = [
    `Experiment:  ${report.rollout} / ${report.experiment}`,
    `Started:     ${report.startedAt === null ? 'no exposure yet' : `${isoMinute(report.startedAt)} (${formatAge(now - report.startedAt)} ago)`}`,
    `Computed:    ${isoMinute(report.at)} (${formatAge(now - report.at)} ago)`,
    `Verdict:     ${recommendationLine(report.recommendation)}`,
  ];
  if (report.concluded) {
    const c = report.concluded;
    lines.push(`Concluded:   ${c.verdict}${c.variant !== undefined ? ` ${c.variant}` : ''} at ${isoMinute(c.at)} by ${c.by}`);
  }
  lines.push('', variantTable(report), '', `Sample ratio: ${srmLine(report.srm)}`);
  const control = controlOf(report);
  for (const m of report.metrics) lines.push('', metricTitle(m), metricTables(m, controlOf(report, m) ?? control));
  if (report.guardrails.length > 0) lines.push('', 'Guardrails', guardrailTable(report.guardrails));
  const ignored = ignoredLine(report.ignored);
  if (ignored) lines.push('', ignored);
  return lines.join('\n');
}

/** "Ignored: 12 conversions after the metric's window, 3 from users never exposed"; empty when none. */
export function ignoredLine(ignored: ExperimentReport['ignored']): string {
  const parts: string[] = [];
  if (ignored.outsideWindow > 0) parts.push(`${count(ignored.outsideWindow)} conversions after the metric's window`);
  if (ignored.unexposed > 0) parts.push(`${count(ignored.unexposed)} from users never exposed`);
  return parts.length > 0 ? `Ignored: ${parts.join(', ')}` : '';
}

/** `sluice experiment plan`: what it takes to detect the effect. */
export function renderPlan(plan: ExperimentPlan): string {
  const i = plan.input;
  const effect =
    i.kind === 'binomial'
      ? `${pct(i.baseline)} → ${pct(i.baseline * (1 + i.mde))} (${signedPct(i.mde)} relative)`
      : `mean ${num(i.mean)} (sd ${num(i.sd)}) → ${num(i.mean * (1 + i.mde))} (${signedPct(i.mde)} relative)`;
  const lines = [
    `Effect:            ${effect}`,
    `Test:              two-sided, alpha ${i.alpha}${plan.comparisons > 1 ? ` (${tick(plan.alphaPerComparison)} per comparison, Bonferroni over ${plan.comparisons} treatments)` : ''}, power ${pct(i.power, 0)}`,
    `Users per variant: ${count(plan.usersPerVariant)}`,
    `Users in all:      ${count(plan.totalUsers)} (${i.variants} variants, equal weights)`,
  ];
  if (plan.days !== undefined)
    lines.push(
      `Duration:          ${plan.days} day${plan.days === 1 ? '' : 's'} at ${count(i.dailyUsers!)} users a day${plan.days < 7 ? ' (run at least a full week: weekdays differ)' : ''}`,
    );
  lines.push(
    '',
    'This is the fixed-horizon sample. The always-valid test sluice reports may be looked at any',
    `time and needs somewhat more: set \`conclusion.sequentialTuning: ${plan.usersPerVariant}\` so its interval is tightest there.`,
  );
  return lines.join('\n');
}
