/** A/B experiments: users per variant, conversion with intervals, lift over time, SRM, the recommendation. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { get, seg } from '../api.js';
import { Chart, color, timeAxis, toSec, valueAxis } from '../chart.js';
import { percent, round, time, value } from '../format.js';
import { onStream } from '../live.js';
import { rolloutHref } from '../router.js';
import { useAppState } from '../store.js';
import type { ExperimentListItem, ExperimentReport, Interval, MetricReport } from '../types.js';
import { Empty, ErrorLine, Loading, useLoad, ScrollBox } from '../ui.js';

const MAX_SHOWN = 10;

function interval(i: Interval, asPercent: boolean): string {
  const f = (x: number) => (asPercent ? percent(x, 2) : value(x));
  return `${f(i.estimate)} [${f(i.lower)}, ${f(i.upper)}]`;
}

function primaryOf(r: ExperimentReport): MetricReport | undefined {
  return r.metrics.find((m) => m.primary) ?? r.metrics[0];
}

function LiftChart({ report, snapshots }: { report: ExperimentReport; snapshots: ExperimentReport[] }) {
  const primary = primaryOf(report);
  const treatments = primary ? primary.comparisons.map((c) => c.variant) : [];
  const data = useMemo((): uPlot.AlignedData => {
    const all = [...snapshots, report].filter((s, i, a) => a.findIndex((x) => x.at === s.at) === i).sort((a, b) => a.at - b.at);
    if (!primary || all.length === 0) return [[]];
    const xs = all.map((s) => toSec(s.at));
    const cols: (number | null)[][] = [];
    for (const v of treatments) {
      const per = all.map((s) => s.metrics.find((m) => m.name === primary.name)?.comparisons.find((c) => c.variant === v)?.sequential.relative);
      cols.push(per.map((i) => (i ? i.estimate * 100 : null)));
      cols.push(per.map((i) => (i && Number.isFinite(i.lower) ? i.lower * 100 : null)));
      cols.push(per.map((i) => (i && Number.isFinite(i.upper) ? i.upper * 100 : null)));
    }
    return [xs, ...cols] as uPlot.AlignedData;
  }, [report, snapshots, primary?.name, treatments.join(',')]);
  return (
    <Chart
      testid="lift-chart"
      title={primary ? `Lift of ${primary.name} over the control, with its always-valid interval (%)` : 'Lift over time'}
      layout={`${primary?.name}:${treatments.join(',')}`}
      data={data}
      empty="No report snapshot yet."
      options={() => ({
        scales: { x: { time: true } },
        axes: [timeAxis, valueAxis('lift %')],
        series: [
          {},
          ...treatments.flatMap((v, i) => [
            { label: `${v} lift`, stroke: color(i), width: 2, value: (_u: uPlot, x: number | null) => (x === null ? '—' : `${round(x, 2)}%`) },
            { label: `${v} lower`, stroke: color(i), width: 1, dash: [4, 4], points: { show: false } },
            { label: `${v} upper`, stroke: color(i), width: 1, dash: [4, 4], points: { show: false } },
          ]),
        ],
      })}
    />
  );
}

function MetricTable({ m }: { m: MetricReport }) {
  const binomial = m.kind === 'binomial';
  return (
    <ScrollBox label={`Metric ${m.name}`}>
      <table>
        <caption>
          {m.name} {m.primary && <span class="badge">primary</span>}{' '}
          <span class="muted">
            ({m.kind}, {m.direction} is better)
          </span>
        </caption>
        <thead>
          <tr>
            <th scope="col">Variant</th>
            <th scope="col">Users</th>
            <th scope="col">{binomial ? 'Converted' : 'Users with a value'}</th>
            <th scope="col">{binomial ? 'Conversion [95% CI]' : 'Mean [95% CI]'}</th>
            <th scope="col">Lift vs control [always-valid CI]</th>
            <th scope="col">p (sequential, adjusted)</th>
          </tr>
        </thead>
        <tbody>
          {m.variants.map((v) => {
            const half = v.users > 0 ? (1.96 * v.sd) / Math.sqrt(v.users) : Number.NaN;
            const c = m.comparisons.find((x) => x.variant === v.variant);
            const ci: Interval = { estimate: v.mean, lower: v.mean - half, upper: v.mean + half };
            return (
              <tr key={v.variant}>
                <th scope="row">{v.variant}</th>
                <td class="num">{v.users}</td>
                <td class="num">{v.converted}</td>
                <td class="num">{Number.isFinite(half) ? interval(ci, binomial) : binomial ? percent(v.mean, 2) : value(v.mean)}</td>
                <td class="num">{c ? interval(c.sequential.relative, true) : 'control'}</td>
                <td class="num">{c ? value(c.adjustedPValue) : '—'}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </ScrollBox>
  );
}

function ExperimentCard({ item, epoch }: { item: ExperimentListItem; epoch: number }) {
  const [loaded] = useLoad(
    () =>
      get<{ report: ExperimentReport | null; snapshots: ExperimentReport[] }>(
        `/v1/rollouts/${seg(item.rollout)}/experiment?experiment=${seg(item.experiment)}`,
      ),
    [item.rollout, item.experiment, epoch],
  );
  const title = (
    <h2>
      <a href={rolloutHref(item.rollout)}>{item.rollout}</a> <span class="muted">test {item.experiment}</span>
    </h2>
  );
  if (loaded.state === 'loading')
    return (
      <article class="card">
        {title}
        <Loading what="the report" />
      </article>
    );
  if (loaded.state === 'error' || loaded.state === 'off')
    return (
      <article class="card">
        {title}
        {loaded.state === 'error' ? <ErrorLine error={loaded.error} /> : <Empty>{loaded.message}</Empty>}
      </article>
    );
  const { report, snapshots } = loaded.data;
  if (!report)
    return (
      <article class="card">
        {title}
        <Empty>No report yet: no user has been exposed.</Empty>
      </article>
    );
  const rec = report.recommendation;
  return (
    <article class="card experiment" data-experiment={`${item.rollout}/${item.experiment}`}>
      {title}
      <p class="muted">
        Started {time(report.startedAt)}, report of {time(report.at)}
        {report.concluded && (
          <>
            {' '}
            — concluded {time(report.concluded.at)}: {report.concluded.verdict}
            {report.concluded.variant ? ` (${report.concluded.variant})` : ''} by {report.concluded.by}
          </>
        )}
      </p>
      <div class="grid">
        <div class={`recommendation verdict-${rec.verdict.toLowerCase()}`} data-testid="recommendation">
          <strong>
            {rec.verdict}
            {rec.variant ? ` ${rec.variant}` : ''}
          </strong>
          {rec.final ? ' (final)' : ''} — {rec.reason}
        </div>
        <div class={report.srm.mismatch ? 'alert' : 'srm-ok'} data-testid="srm">
          {report.srm.mismatch ? 'Sample ratio mismatch' : 'Sample ratio as planned'}: χ² {round(report.srm.statistic, 2)}, df {report.srm.df}, p ={' '}
          {value(report.srm.pValue)}
        </div>
      </div>
      <ScrollBox label={'Users per variant'}>
        <table>
          <caption>Users per variant</caption>
          <thead>
            <tr>
              <th scope="col">Variant</th>
              <th scope="col">Revision</th>
              <th scope="col">Weight</th>
              <th scope="col">Users</th>
              <th scope="col">Share</th>
            </tr>
          </thead>
          <tbody>
            {report.variants.map((v) => (
              <tr key={v.variant}>
                <th scope="row">{v.variant}</th>
                <td>r{v.revision}</td>
                <td class="num">{v.weight}%</td>
                <td class="num">{v.users}</td>
                <td class="num">{percent(v.share)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </ScrollBox>
      {report.metrics.map((m) => (
        <MetricTable key={m.name} m={m} />
      ))}
      <LiftChart report={report} snapshots={snapshots} />
      {report.guardrails.some((g) => g.violated) && (
        <ul class="alert">
          {report.guardrails
            .filter((g) => g.violated)
            .map((g) => (
              <li key={g.variant}>
                Guardrail: {g.variant} {g.violated}
              </li>
            ))}
        </ul>
      )}
    </article>
  );
}

export function ExperimentsPage() {
  const epoch = useAppState((s) => s.epoch);
  const [tick, setTick] = useState(0);
  useEffect(() => onStream('experiments', () => setTick((t) => t + 1)), []);
  const [list] = useLoad(() => get<{ experiments: ExperimentListItem[] }>('/v1/experiments'), [epoch, tick]);
  return (
    <section aria-labelledby="experiments-title" data-testid="experiments">
      <h1 id="experiments-title">Experiments</h1>
      {list.state === 'loading' ? (
        <Loading what="experiments" />
      ) : list.state === 'off' ? (
        <Empty>This control plane runs no experiments ({list.message}).</Empty>
      ) : list.state === 'error' ? (
        <ErrorLine error={list.error} />
      ) : list.data.experiments.length === 0 ? (
        <Empty>
          No experiments yet. An A/B rollout with <code>strategy.abTest.experiment</code> starts one.
        </Empty>
      ) : (
        <>
          {list.data.experiments.length > MAX_SHOWN && (
            <p class="muted">
              The {MAX_SHOWN} newest of {list.data.experiments.length} experiments.
            </p>
          )}
          {[...list.data.experiments]
            .sort((a, b) => b.at - a.at)
            .slice(0, MAX_SHOWN)
            .map((e) => (
              <ExperimentCard key={`${e.rollout}/${e.experiment}`} item={e} epoch={epoch + tick} />
            ))}
        </>
      )}
    </section>
  );
}
