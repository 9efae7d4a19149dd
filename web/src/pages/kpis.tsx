/** DORA / Four Keys per environment over a period, against the playbook's targets, as tables and bar charts. */
import { useState } from 'preact/hooks';
import uPlot from 'uplot';
import { get } from '../api.js';
import { Chart, color, valueAxis } from '../chart.js';
import { percent, round, seconds, time } from '../format.js';
import { useAppState } from '../store.js';
import { ALL_SERVICES, type DoraReport, type DoraRow } from '../types.js';
import { Empty, ErrorLine, Loading, useLoad, ScrollBox } from '../ui.js';

interface Kpi {
  name: string;
  title: string;
  unit: string;
  of: (r: DoraRow) => number | undefined;
  target: (t: DoraReport['targets']) => number;
  show: (v: number | undefined) => string;
}

const KPIS: Kpi[] = [
  {
    name: 'deployments-per-week',
    title: 'Deployments per week',
    unit: '/week',
    of: (r) => r.perWeek,
    target: (t) => t.perWeek.min,
    show: (v) => (v === undefined ? '—' : round(v, 2)),
  },
  {
    name: 'change-failure-rate',
    title: 'Change failure rate',
    unit: '%',
    of: (r) => (r.changeFailureRate === undefined ? undefined : r.changeFailureRate * 100),
    target: (t) => t.changeFailureRate * 100,
    show: (v) => (v === undefined ? '—' : `${round(v, 1)}%`),
  },
  {
    name: 'lead-time',
    title: 'Lead time (median, hours)',
    unit: 'h',
    of: (r) => (r.leadTimeSeconds ? r.leadTimeSeconds.median / 3600 : undefined),
    target: (t) => t.leadTimeSeconds / 3600,
    show: (v) => (v === undefined ? '—' : seconds(v * 3600)),
  },
  {
    name: 'time-to-restore',
    title: 'Time to restore (median, minutes)',
    unit: 'min',
    of: (r) => (r.timeToRestoreSeconds ? r.timeToRestoreSeconds.median / 60 : undefined),
    target: (t) => t.timeToRestoreSeconds / 60,
    show: (v) => (v === undefined ? '—' : seconds(v * 60)),
  },
];

function KpiChart({ kpi, rows, report }: { kpi: Kpi; rows: DoraRow[]; report: DoraReport }) {
  const names = rows.map((r) => r.environment);
  const target = kpi.target(report.targets);
  const xs = rows.map((_, i) => i);
  const data: uPlot.AlignedData = rows.length === 0 ? [[]] : [xs, rows.map((r) => kpi.of(r) ?? null), rows.map(() => target)];
  return (
    <Chart
      testid={`kpi-chart-${kpi.name}`}
      title={`${kpi.title} per environment (dashed: target ${kpi.show(target)})`}
      layout={names.join(',')}
      data={data}
      height={180}
      empty="No deployment in this period."
      options={() => ({
        scales: {
          x: { time: false, range: [-0.6, Math.max(0.6, names.length - 0.4)] },
          y: { range: (_u, _min, max) => [0, Math.max(max ?? 0, target) * 1.15 || 1] },
        },
        axes: [{ stroke: '#333', grid: { show: false }, splits: () => xs, values: (_u, splits) => splits.map((i) => names[i] ?? '') }, valueAxis(kpi.unit)],
        legend: { show: false },
        cursor: { show: false },
        series: [
          {},
          { label: kpi.title, stroke: color(0), fill: '#1f5fbf99', width: 1, paths: uPlot.paths.bars?.({ size: [0.5, 80] }), points: { show: false } },
          { label: 'target', stroke: '#b00020', width: 1, dash: [6, 4], points: { show: false } },
        ],
      })}
    />
  );
}

export function KpisPage() {
  const epoch = useAppState((s) => s.epoch);
  const [since, setSince] = useState('30d');
  const [report] = useLoad(() => get<DoraReport>(`/v1/kpis?since=${since}`), [epoch, since]);
  return (
    <section aria-labelledby="kpis-title" data-testid="kpis">
      <h1 id="kpis-title">KPIs</h1>
      <p>
        <label for="kpi-since">Period</label>{' '}
        <select id="kpi-since" value={since} onChange={(e) => setSince((e.target as HTMLSelectElement).value)}>
          <option value="7d">last 7 days</option>
          <option value="30d">last 30 days</option>
          <option value="90d">last 90 days</option>
          <option value="365d">last year</option>
        </select>
      </p>
      {report.state === 'loading' ? (
        <Loading what="KPIs" />
      ) : report.state === 'off' ? (
        <Empty>This control plane runs no pipelines, so it has no KPIs ({report.message}).</Empty>
      ) : report.state === 'error' ? (
        <ErrorLine error={report.error} />
      ) : (
        <KpiBody report={report.data} />
      )}
    </section>
  );
}

function KpiBody({ report }: { report: DoraReport }) {
  const totals = report.rows.filter((r) => r.service === ALL_SERVICES);
  const rows = [...report.rows].sort(
    (a, b) => a.environment.localeCompare(b.environment) || (a.service === ALL_SERVICES ? -1 : a.service.localeCompare(b.service)),
  );
  return (
    <>
      <p class="muted">
        From {time(report.since)} to {time(report.until)}. Targets: success rate above {percent(report.targets.successRate, 0)}, change failure rate below{' '}
        {percent(report.targets.changeFailureRate, 0)}, {report.targets.perWeek.min}–{report.targets.perWeek.max} deployments a week, lead time under{' '}
        {seconds(report.targets.leadTimeSeconds)}, time to restore under {seconds(report.targets.timeToRestoreSeconds)}.
      </p>
      {rows.length === 0 ? (
        <Empty>No deployment through a pipeline in this period.</Empty>
      ) : (
        <ScrollBox label={'KPIs table'}>
          <table>
            <caption class="sr-only">KPIs per environment and service</caption>
            <thead>
              <tr>
                <th scope="col">Environment</th>
                <th scope="col">Service</th>
                <th scope="col">Deployments</th>
                <th scope="col">Per week</th>
                <th scope="col">Failed</th>
                <th scope="col">Change failure rate</th>
                <th scope="col">Lead time (median / p90)</th>
                <th scope="col">Time to restore (median / max)</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={`${r.environment}/${r.service}`} class={r.service === ALL_SERVICES ? 'total' : undefined}>
                  <th scope="row">{r.environment}</th>
                  <td>{r.service}</td>
                  <td class="num">{r.deployments}</td>
                  <td class="num">{round(r.perWeek, 2)}</td>
                  <td class="num">{r.failed}</td>
                  <td class="num">{percent(r.changeFailureRate)}</td>
                  <td class="num">{r.leadTimeSeconds ? `${seconds(r.leadTimeSeconds.median)} / ${seconds(r.leadTimeSeconds.p90)}` : '—'}</td>
                  <td class="num">{r.timeToRestoreSeconds ? `${seconds(r.timeToRestoreSeconds.median)} / ${seconds(r.timeToRestoreSeconds.max)}` : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </ScrollBox>
      )}
      <div class="grid">
        {KPIS.map((k) => (
          <KpiChart key={k.name} kpi={k} rows={totals} report={report} />
        ))}
      </div>
    </>
  );
}
