/**
 * Number formatting shared by the terminal table (src/cli/render-experiment.ts) and the
 * HTML/Markdown report: one way to write a rate, a lift, a p-value and an interval, so
 * that the page and `sluice experiment status` show the same text for the same report.
 */
import type { ExperimentReport, Interval, MetricReport } from '../../core/experiment.js';

/** A fraction as a percentage with 2 decimals: 0.05123 → "5.12%". */
export function pct(x: number, digits = 2): string {
  if (!Number.isFinite(x)) return '-';
  return `${(x * 100).toFixed(digits)}%`;
}

/** A relative change with its sign: 0.1 → "+10.00%", −0.031 → "−3.10%" (ASCII minus). */
export function signedPct(x: number, digits = 2): string {
  if (!Number.isFinite(x)) return '-';
  const text = pct(Math.abs(x), digits);
  if (text === pct(0, digits)) return text;
  return `${x < 0 ? '-' : '+'}${text}`;
}

/** "[+2.31%, +17.80%]": an interval of relative lifts. */
export function pctInterval(i: Pick<Interval, 'lower' | 'upper'>): string {
  return `[${signedPct(i.lower)}, ${signedPct(i.upper)}]`;
}

/** A p-value: 4 decimals from 0.0001 up, then 3.2e-7, then "<1e-12". */
export function pValue(p: number): string {
  if (!Number.isFinite(p)) return '-';
  if (p < 1e-12) return '<1e-12';
  if (p < 0.0001) return p.toExponential(1);
  return p.toFixed(4);
}

/** A continuous value (a mean, an sd): 4 significant digits, thousands grouped: 1,235 / 12.30 / 0.2180 / 1.24e-4. */
export function num(x: number): string {
  if (!Number.isFinite(x)) return '-';
  const abs = Math.abs(x);
  if (abs === 0) return '0';
  if (abs >= 1000) return Math.round(x).toLocaleString('en-US');
  if (abs < 0.001) return x.toExponential(2);
  return x.toPrecision(4);
}

/** An axis tick: as short as it is exact (2, 0.5, 1,500). */
export function tick(x: number): string {
  if (!Number.isFinite(x)) return '-';
  const n = Number(x.toPrecision(6));
  return Math.abs(n) >= 1000 ? n.toLocaleString('en-US') : String(n);
}

/** A count with thousands grouped: 31234 → "31,234". */
export function count(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-';
}

/** The metric's per-variant value: a conversion rate (binomial) or a mean (continuous). */
export function metricValue(kind: MetricReport['kind'], mean: number): string {
  return kind === 'binomial' ? pct(mean) : num(mean);
}

/** The primary metric (the one that decides), else the first. */
export function primaryMetric(report: ExperimentReport): MetricReport | undefined {
  return report.metrics.find((m) => m.primary) ?? report.metrics[0];
}

/** The control: the metric's variant no comparison is about, else the report's first. */
export function controlOf(report: ExperimentReport, metric?: MetricReport): string | undefined {
  const treated = new Set((metric ?? primaryMetric(report))?.comparisons.map((c) => c.variant) ?? []);
  return report.variants.find((v) => !treated.has(v.variant))?.variant ?? report.variants[0]?.variant;
}

/** Users of each variant as a fraction of all exposed users, and the weight as a fraction of all weights. */
export function shares(report: ExperimentReport): { variant: string; share: number; expected: number }[] {
  const users = report.variants.reduce((s, v) => s + v.users, 0);
  const weights = report.variants.reduce((s, v) => s + v.weight, 0);
  return report.variants.map((v) => ({
    variant: v.variant,
    share: users > 0 ? v.users / users : Number.NaN,
    expected: weights > 0 ? v.weight / weights : Number.NaN,
  }));
}

/** The sample-ratio test in one phrase: "chi² 1.72 (df 1), p 0.1900" (a value JSON turned into null shows as "-"). */
export function srmTest(srm: ExperimentReport['srm']): string {
  const stat = typeof srm.statistic === 'number' && Number.isFinite(srm.statistic) ? srm.statistic.toFixed(2) : '-';
  return `chi² ${stat} (df ${srm.df}), p ${pValue(srm.pValue)}`;
}

/** ISO time to the minute, UTC: "2025-01-15 12:00Z". */
export function isoMinute(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + 'Z';
}

/** The comparison table's columns, in the terminal's, the page's and Markdown's order. */
export const COMPARISON_COLUMNS = ['Comparison', 'Lift', 'CI (always-valid)', 'p fixed', 'p always-valid', 'p Holm', 'CUPED'];

/** One row per treatment of a metric; `text` escapes names for the output format. */
export function comparisonRows(m: MetricReport, control: string | undefined, text: (s: string) => string = (s) => s): string[][] {
  return m.comparisons.map((c) => [
    `${text(c.variant)} vs ${text(control ?? 'control')}`,
    signedPct(c.relative.estimate),
    pctInterval(c.sequential.relative),
    pValue(c.fixed.pValue),
    pValue(c.sequential.pValue),
    pValue(c.adjustedPValue),
    c.cuped ? 'yes' : 'no',
  ]);
}
