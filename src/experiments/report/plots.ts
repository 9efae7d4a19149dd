/**
 * The report's two plots, from the snapshots (oldest first) of one test: the primary
 * metric per variant over time (cumulative conversion rate or mean), and each treatment's
 * relative lift with its always-valid confidence band. Shared by the HTML and Markdown pages.
 */
import type { ExperimentReport } from '../../core/experiment.js';
import { controlOf, primaryMetric, tick } from './format.js';
import { lineChart, type ChartSeries } from './svg.js';

export interface Plot {
  /** File-name friendly: `metric`, `lift`. */
  id: 'metric' | 'lift';
  title: string;
  /** The SVG, or a sentence saying why there is none. */
  svg?: string;
  note?: string;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Time since the start in days (≥ 2 days), hours (≥ 2 h) or minutes. */
function timeAxis(start: number, end: number): { unit: number; label: string; format: (x: number) => string } {
  const span = end - start;
  if (span >= 2 * DAY) return { unit: DAY, label: 'days since the test started', format: (x) => `${tick(x)}d` };
  if (span >= 2 * HOUR) return { unit: HOUR, label: 'hours since the test started', format: (x) => `${tick(x)}h` };
  return { unit: 60_000, label: 'minutes since the test started', format: (x) => `${tick(x)}m` };
}

/** Both plots for the primary metric of `report`, or notes when the snapshots cannot make a line. */
export function experimentPlots(report: ExperimentReport, snapshots: ExperimentReport[]): Plot[] {
  const metric = primaryMetric(report);
  const metricTitle = metric ? `${metric.name}: ${metric.kind === 'binomial' ? 'conversion rate' : 'mean'} per variant over time` : 'primary metric over time';
  const liftTitle = metric ? `${metric.name}: relative lift vs the control, with its always-valid confidence band` : 'relative lift over time';
  const series = snapshots.filter((s) => s.experiment === report.experiment && Number.isFinite(s.at));
  const note = (): string | undefined => {
    if (!metric) return 'No metric in this experiment: nothing to plot.';
    if (series.length === 0) return 'No snapshots stored yet: the plots appear once the analysis has run at least twice.';
    if (series.length === 1) return 'Only one snapshot so far: the plots need at least two points in time.';
    return undefined;
  };
  const why = note();
  if (why !== undefined || !metric) {
    return [
      { id: 'metric', title: metricTitle, note: why },
      { id: 'lift', title: liftTitle, note: why },
    ];
  }
  const start = report.startedAt ?? series[0]!.at;
  const axis = timeAxis(Math.min(start, series[0]!.at), series.at(-1)!.at);
  const x = (at: number) => (at - start) / axis.unit;
  const xDomain: [number, number] = [Math.min(0, x(series[0]!.at)), x(series.at(-1)!.at)];
  const control = controlOf(report, metric);
  const ofSnapshot = (s: ExperimentReport) => s.metrics.find((m) => m.name === metric.name);

  const variants = report.variants.map((v) => v.variant);
  const valueSeries: ChartSeries[] = variants.map((variant) => ({
    label: variant === control ? `${variant} (control)` : variant,
    points: series.flatMap((s) => {
      const v = ofSnapshot(s)?.variants.find((r) => r.variant === variant);
      return v && v.users > 0 ? [{ x: x(s.at), y: v.mean }] : [];
    }),
  }));
  const treatments = metric.comparisons.map((c) => c.variant);
  const liftSeries: ChartSeries[] = treatments.map((variant) => {
    const rows = series.flatMap((s) => {
      const c = ofSnapshot(s)?.comparisons.find((r) => r.variant === variant);
      return c ? [{ at: s.at, c }] : [];
    });
    return {
      label: `${variant} vs ${control ?? 'control'}`,
      style: Math.max(0, variants.indexOf(variant)),
      points: rows.map(({ at, c }) => ({ x: x(at), y: c.relative.estimate })),
      band: rows.map(({ at, c }) => ({ x: x(at), lower: c.sequential.relative.lower, upper: c.sequential.relative.upper })),
    };
  });
  const binomial = metric.kind === 'binomial';
  // Early on (no users yet, so the rates are null) there may be snapshots but no line to draw.
  const drawable = (list: ChartSeries[]) => list.some((s) => s.points.filter((p) => Number.isFinite(p.y)).length >= 2);
  const empty = 'Not enough data yet: no variant has a value at two points in time.';
  return [
    !drawable(valueSeries)
      ? { id: 'metric', title: metricTitle, note: empty }
      : {
          id: 'metric',
          title: metricTitle,
          svg: lineChart({
            id: 'plot-metric',
            title: metricTitle,
            xLabel: axis.label,
            yLabel: binomial ? 'conversion rate (cumulative)' : 'mean per user (cumulative)',
            xFormat: axis.format,
            yFormat: binomial ? (y) => `${tick(y * 100)}%` : tick,
            series: valueSeries,
            xDomain,
          }),
        },
    treatments.length === 0
      ? { id: 'lift', title: liftTitle, note: 'No treatment to compare with the control.' }
      : !drawable(liftSeries)
        ? { id: 'lift', title: liftTitle, note: empty }
        : {
            id: 'lift',
            title: liftTitle,
            svg: lineChart({
              id: 'plot-lift',
              title: liftTitle,
              xLabel: axis.label,
              yLabel: 'relative lift',
              xFormat: axis.format,
              yFormat: (y) => `${y > 0 ? '+' : ''}${tick(y * 100)}%`,
              series: liftSeries,
              xDomain,
              zeroLine: true,
            }),
          },
  ];
}
