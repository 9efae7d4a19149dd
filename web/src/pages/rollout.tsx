/**
 * One rollout: its phase and step, revisions and instances, the step timeline, the traffic
 * weights over time, each analysis metric with its threshold and verdicts, the events, an
 * instance's log, and the actions (each behind a confirmation dialog).
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { api, get, seg } from '../api.js';
import { Chart, color, timeAxis, toSec, valueAxis } from '../chart.js';
import { time, value as fmtValue, weights as fmtWeights } from '../format.js';
import { onStream } from '../live.js';
import { useAppState } from '../store.js';
import type { AnalysisView, CanaryStep, LogChunk, Measurement, MetricSpec, RolloutEvent, RolloutView, WeightPoint } from '../types.js';
import { Alert, DisabledReason, Empty, ErrorLine, type Loaded, Loading, confirmAction, roleReason, useLoad, ScrollBox } from '../ui.js';
import { phaseClass } from './overview.js';

/** Calls `f` at most once per `ms` (the last call wins), for bursts of stream events. */
function useDebounced(f: () => void, ms: number): () => void {
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const fn = useRef(f);
  fn.current = f;
  useEffect(() => () => clearTimeout(timer.current), []);
  return () => {
    if (timer.current === undefined)
      timer.current = setTimeout(() => {
        timer.current = undefined;
        fn.current();
      }, ms);
  };
}

export function describeStep(s: CanaryStep): string {
  if ('setWeight' in s) return `Send ${s.setWeight}% of traffic to the new revision`;
  if ('pause' in s) return s.pause.duration !== undefined ? `Pause ${s.pause.duration}s` : 'Pause until promoted';
  if ('analysis' in s) {
    const names = [...s.analysis.templates.map((t) => t.templateName), ...s.analysis.metrics.map((m) => m.name)];
    return `Analysis${names.length > 0 ? `: ${names.join(', ')}` : ''}`;
  }
  if ('approval' in s) return 'Wait for an approval';
  if ('setCanaryScale' in s) {
    const c = s.setCanaryScale;
    return `Scale the canary${c.replicas !== undefined ? ` to ${c.replicas} replicas` : c.weight !== undefined ? ` to ${c.weight}%` : ' to match its traffic'}`;
  }
  if ('setHeaderRoute' in s)
    return s.setHeaderRoute.match ? `Header route ${s.setHeaderRoute.name} to the canary` : `Remove header route ${s.setHeaderRoute.name}`;
  if ('setMirrorRoute' in s)
    return s.setMirrorRoute.match
      ? `Mirror ${s.setMirrorRoute.percentage}% of matching requests (${s.setMirrorRoute.name})`
      : `Remove mirror route ${s.setMirrorRoute.name}`;
  if ('setFlag' in s) return `Set flag ${s.setFlag.flag} to ${s.setFlag.percentage}%`;
  return JSON.stringify(s);
}

function canarySteps(v: RolloutView): CanaryStep[] | undefined {
  const s = v.spec.strategy;
  return s.type === 'canary' ? s.steps : undefined;
}

/** 1-based step being run, or the count once done (as RolloutSummary.step). */
function stepOf(v: RolloutView): { step: number; steps: number } | undefined {
  const steps = canarySteps(v);
  if (!steps || steps.length === 0) return undefined;
  return { step: Math.min(v.status.stepIndex + 1, steps.length), steps: steps.length };
}

function inProgress(v: RolloutView): boolean {
  return v.status.stableRevision === null || v.status.currentRevision !== v.status.stableRevision;
}

interface ActionDef {
  id: 'promote' | 'promote-full' | 'abort' | 'retry' | 'undo' | 'pause' | 'resume' | 'restart' | 'approve';
  label: string;
  path: string;
  body: object;
  describe: (v: RolloutView) => string;
  danger?: boolean;
}

function nextStepText(v: RolloutView): string {
  const steps = canarySteps(v);
  if (v.spec.strategy.type === 'blueGreen') return `Switch all traffic to the preview revision ${v.status.currentRevision}.`;
  if (!steps) return `Go on with the release of revision ${v.status.currentRevision}.`;
  const pause = v.status.pauses.some((p) => p.reason === 'Inconclusive' || p.reason === 'AnalysisFailed');
  const next = steps[v.status.stepIndex + 1];
  return `${pause ? 'Waive the analysis that paused the release and go' : 'Go'} on from step ${Math.min(v.status.stepIndex + 1, steps.length)} of ${steps.length}${
    next ? ` to the next step: ${describeStep(next).toLowerCase()}` : ' and finish the rollout'
  }.`;
}

/** Shown only while a canary's approval step waits (`sluice approve NAME`). */
const APPROVE: ActionDef = {
  id: 'approve',
  label: 'Approve step',
  path: 'approve',
  body: {},
  describe: (v) => `Pass the approval step the release of revision ${v.status.currentRevision} waits at; you are recorded as its approver.`,
};

const ACTIONS: ActionDef[] = [
  { id: 'promote', label: 'Promote', path: 'promote', body: {}, describe: nextStepText },
  {
    id: 'promote-full',
    label: 'Promote full',
    path: 'promote',
    body: { full: true },
    describe: (v) => `Skip the remaining steps and pauses: send all traffic to revision ${v.status.currentRevision} and finish the rollout.`,
  },
  {
    id: 'abort',
    label: 'Abort',
    path: 'abort',
    body: {},
    danger: true,
    describe: (v) =>
      v.status.stableRevision !== null
        ? `Stop the release of revision ${v.status.currentRevision} and send all traffic back to the stable revision ${v.status.stableRevision}. Retry starts it again.`
        : `Stop the release of revision ${v.status.currentRevision}. There is no stable revision to go back to.`,
  },
  {
    id: 'retry',
    label: 'Retry',
    path: 'retry',
    body: {},
    describe: (v) => `Start the aborted release of revision ${v.status.currentRevision} again from its first step.`,
  },
  {
    id: 'undo',
    label: 'Undo',
    path: 'undo',
    body: {},
    danger: true,
    describe: (v) => {
      const hist = [...(v.status.stableHistory ?? [])].reverse().find((n) => n !== v.status.currentRevision);
      return `Roll back to ${hist !== undefined ? `revision ${hist}` : 'the newest revision that was stable'}: it is released again as a new revision, with this rollout's strategy.`;
    },
  },
  {
    id: 'pause',
    label: 'Pause',
    path: 'pause',
    body: {},
    describe: () => 'Hold the release at its current step: traffic stays split as it is now until Resume.',
  },
  {
    id: 'resume',
    label: 'Resume',
    path: 'resume',
    body: {},
    describe: () => 'Lift the manual pause: the release goes on from its current step.',
  },
  {
    id: 'restart',
    label: 'Restart',
    path: 'restart',
    body: {},
    describe: (v) => `Replace every instance of revision ${v.status.currentRevision}, one at a time, never below its replicas ready. Traffic is not moved.`,
  },
];

function Actions({ view, onDone }: { view: RolloutView; onDone: () => void }) {
  const session = useAppState((s) => s.session);
  const awaiting = useAppState((s) => s.rollouts.get(view.name)?.awaiting);
  const actions = awaiting === 'approval' ? [APPROVE, ...ACTIONS] : ACTIONS;
  const reason = roleReason(session, 'deploy');
  const aborted = view.status.aborted;
  const pausedByUser = view.status.pauses.some((p) => p.reason === 'Manual');
  const hint = (a: ActionDef): string | undefined => {
    // Shown as a title only: the API decides, and says why when it refuses.
    if (a.id === 'retry' && !aborted) return 'only an aborted release can be retried';
    if (a.id === 'resume' && !pausedByUser) return 'not paused by a user';
    if ((a.id === 'promote' || a.id === 'promote-full' || a.id === 'abort' || a.id === 'pause') && !inProgress(view)) return 'no release in progress';
    if (a.id === 'restart' && inProgress(view)) return 'a release is in progress';
    return undefined;
  };
  return (
    <section aria-labelledby="actions-title" class="card">
      <h2 id="actions-title">Actions</h2>
      <div class="buttons">
        {actions.map((a) => (
          <button
            key={a.id}
            type="button"
            class={a.danger ? 'danger' : undefined}
            disabled={reason !== undefined}
            title={hint(a)}
            onClick={() =>
              confirmAction({
                title: `${a.label} ${view.name}?`,
                description: a.describe(view),
                danger: a.danger,
                run: () => api('POST', `/v1/rollouts/${seg(view.name)}/${a.path}`, a.body),
                done: onDone,
              })
            }
          >
            {a.label}
          </button>
        ))}
      </div>
      <DisabledReason reason={reason} />
    </section>
  );
}

function Steps({ view }: { view: RolloutView }) {
  const steps = canarySteps(view);
  if (!steps || steps.length === 0) {
    return (
      <section aria-labelledby="steps-title" class="card" data-testid="steps">
        <h2 id="steps-title">Steps</h2>
        <Empty>The {view.spec.strategy.type} strategy has no steps.</Empty>
      </section>
    );
  }
  const current = view.status.stepIndex;
  const done = current >= steps.length;
  return (
    <section aria-labelledby="steps-title" class="card" data-testid="steps">
      <h2 id="steps-title">Steps</h2>
      <ol class="timeline">
        {steps.map((s, i) => {
          const state = i < current || done ? 'done' : i === current && inProgress(view) ? 'current' : 'todo';
          return (
            <li key={i} class={`step-${state}`} aria-current={state === 'current' ? 'step' : undefined}>
              <span class="step-n">{i + 1}</span> {describeStep(s)}
              {state === 'current' && <span class="badge">current</span>}
              {state === 'done' && <span class="sr-only"> (done)</span>}
            </li>
          );
        })}
      </ol>
    </section>
  );
}

function Revisions({ view }: { view: RolloutView }) {
  const { status } = view;
  const weightOf = new Map(status.weights.map((w) => [w.revision, w.weight]));
  const revisions = [...view.revisions].sort((a, b) => b.number - a.number);
  return (
    <section aria-labelledby="revisions-title" class="card">
      <h2 id="revisions-title">Revisions and instances</h2>
      <ScrollBox label={'Revisions table'}>
        <table>
          <caption class="sr-only">Revisions</caption>
          <thead>
            <tr>
              <th scope="col">Revision</th>
              <th scope="col">Version</th>
              <th scope="col">Role</th>
              <th scope="col">Traffic</th>
              <th scope="col">Cause</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {revisions.map((r) => (
              <tr key={r.number}>
                <th scope="row">r{r.number}</th>
                <td>{r.template.version}</td>
                <td>
                  {[r.number === status.stableRevision ? 'stable' : '', r.number === status.currentRevision ? 'current' : ''].filter(Boolean).join(', ') || '—'}
                </td>
                <td class="num">{weightOf.has(r.number) ? `${weightOf.get(r.number)}%` : '—'}</td>
                <td>{r.cause}</td>
                <td>{time(r.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </ScrollBox>
      <div data-testid="instances">
        <h3>Instances</h3>
        {view.instances.length === 0 ? (
          <Empty>No instances running.</Empty>
        ) : (
          <ScrollBox label={'Instances table'}>
            <table>
              <caption class="sr-only">Instances</caption>
              <thead>
                <tr>
                  <th scope="col">Instance</th>
                  <th scope="col">Revision</th>
                  <th scope="col">Readiness</th>
                  <th scope="col">Address</th>
                  <th scope="col">Restarts</th>
                  <th scope="col">Started</th>
                </tr>
              </thead>
              <tbody>
                {[...view.instances]
                  .sort((a, b) => b.revision - a.revision || a.id.localeCompare(b.id))
                  .map((i) => (
                    <tr key={i.id} data-instance={i.id}>
                      <th scope="row">
                        <code>{i.id}</code>
                      </th>
                      <td>r{i.revision}</td>
                      <td>
                        <span class={`readiness readiness-${i.phase.toLowerCase()}`}>{i.phase}</span>
                        {i.message && <span class="muted"> — {i.message}</span>}
                      </td>
                      <td>
                        {i.host}:{i.port}
                      </td>
                      <td class="num">{i.restarts}</td>
                      <td>{time(i.startedAt)}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          </ScrollBox>
        )}
      </div>
    </section>
  );
}

/** Stepped lines, one per revision: its share of the main listener's traffic over time. */
function WeightChart({ name, points }: { name: string; points: WeightPoint[] }) {
  const revisions = useMemo(() => [...new Set(points.flatMap((p) => p.weights.map((w) => w.revision)))].sort((a, b) => a - b), [points]);
  const data = useMemo((): uPlot.AlignedData => {
    if (points.length === 0) return [[]];
    const sorted = [...points].sort((a, b) => a.at - b.at);
    // A last point at "now" so the current split is drawn up to the present.
    const xs = [...sorted.map((p) => toSec(p.at)), Math.max(toSec(Date.now()), toSec(sorted.at(-1)!.at))];
    const rows = [...sorted, sorted.at(-1)!];
    return [xs, ...revisions.map((r) => rows.map((p) => p.weights.find((w) => w.revision === r)?.weight ?? 0))];
  }, [points, revisions]);
  const last = points.length > 0 ? [...points].sort((a, b) => a.at - b.at).at(-1) : undefined;
  return (
    <section aria-labelledby="weights-title" class="card">
      <h2 id="weights-title">Traffic</h2>
      <Chart
        testid="weight-chart"
        title={`Traffic weight per revision of ${name} (%)`}
        layout={revisions.join(',')}
        data={data}
        empty="No traffic split recorded yet."
        options={() => ({
          scales: { x: { time: true }, y: { range: [0, 100] } },
          axes: [timeAxis, valueAxis('%')],
          series: [
            {},
            ...revisions.map((r, i) => ({
              label: `r${r}`,
              stroke: color(i),
              width: 2,
              paths: uPlot.paths.stepped?.({ align: 1 }),
              value: (_u: uPlot, v: number | null) => (v === null ? '—' : `${v}%`),
            })),
          ],
        })}
      />
      {last && <p class="muted">Now: {fmtWeights(last.weights)}</p>}
    </section>
  );
}

/** A number from a measurement value (a list's first number), for the chart. */
function numeric(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (Array.isArray(v)) {
    for (const x of v) {
      const n = numeric(x);
      if (n !== null) return n;
    }
  }
  return null;
}

/** The number a condition compares `result` with, e.g. 0.05 in `result < 0.05`. */
export function thresholdOf(condition: string | undefined): number | undefined {
  if (!condition) return undefined;
  const m = /result(?:\[\d+\])?(?:\.\w+)*\s*(<=|>=|<|>|==)\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)/.exec(condition);
  if (m) return Number(m[2]);
  const r = /(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*(<=|>=|<|>|==)\s*result/.exec(condition);
  return r ? Number(r[1]) : undefined;
}

const VERDICTS: Measurement['phase'][] = ['Successful', 'Failed', 'Inconclusive', 'Error'];
const VERDICT_STYLE: Record<Measurement['phase'], { stroke: string; fill: string; size: number }> = {
  Successful: { stroke: '#0f7b6c', fill: '#0f7b6c', size: 7 },
  Failed: { stroke: '#b00020', fill: '#ffffff', size: 10 },
  Inconclusive: { stroke: '#b35900', fill: '#b35900', size: 8 },
  Error: { stroke: '#5c5c5c', fill: '#ffffff', size: 8 },
};

interface MetricSeries {
  name: string;
  spec?: MetricSpec;
  measurements: Measurement[];
}

function MetricChart({ m }: { m: MetricSeries }) {
  const threshold = thresholdOf(m.spec?.successCondition) ?? thresholdOf(m.spec?.failureCondition);
  const sorted = useMemo(() => [...m.measurements].sort((a, b) => a.finishedAt - b.finishedAt), [m.measurements]);
  const data = useMemo((): uPlot.AlignedData => {
    if (sorted.length === 0) return [[]];
    const xs = sorted.map((x) => toSec(x.finishedAt));
    const values = sorted.map((x) => numeric(x.value));
    const cols: (number | null)[][] = [values];
    if (threshold !== undefined) cols.push(sorted.map(() => threshold));
    for (const v of VERDICTS) cols.push(sorted.map((x, i) => (x.phase === v ? (values[i] ?? threshold ?? 0) : null)));
    return [xs, ...cols] as uPlot.AlignedData;
  }, [sorted, threshold]);
  const condition = [m.spec?.successCondition && `success: ${m.spec.successCondition}`, m.spec?.failureCondition && `failure: ${m.spec.failureCondition}`]
    .filter(Boolean)
    .join('; ');
  const recent = sorted.slice(-8).reverse();
  return (
    <div class="metric">
      <Chart
        testid={`metric-chart-${m.name}`}
        title={`${m.name}${condition ? ` (${condition})` : ''}`}
        layout={`${threshold}`}
        data={data}
        height={180}
        empty="No measurement yet."
        options={() => ({
          scales: { x: { time: true } },
          axes: [timeAxis, valueAxis()],
          series: [
            {},
            { label: m.name, stroke: '#1f5fbf', width: 2, points: { show: false } },
            ...(threshold !== undefined ? [{ label: 'threshold', stroke: '#b00020', width: 1, dash: [6, 4], points: { show: false } }] : []),
            ...VERDICTS.map((v) => ({
              label: v,
              stroke: VERDICT_STYLE[v].stroke,
              width: 0,
              paths: () => null,
              points: { show: true, size: VERDICT_STYLE[v].size, stroke: VERDICT_STYLE[v].stroke, fill: VERDICT_STYLE[v].fill, width: 2 },
            })),
          ],
        })}
      >
        <h4 id={`last-${m.name}`}>Last measurements of {m.name}</h4>
        {recent.length === 0 ? (
          <Empty>None yet.</Empty>
        ) : (
          <ul class="measurements" aria-labelledby={`last-${m.name}`}>
            {recent.map((x) => (
              <li key={`${x.startedAt}-${x.finishedAt}`}>
                <span class={`verdict verdict-${x.phase.toLowerCase()}`}>{x.phase}</span> {fmtValue(x.value)}
                {threshold !== undefined && <span class="muted"> (threshold {threshold})</span>}
                {x.message && <span class="muted"> — {x.message}</span>} <span class="muted">{time(x.finishedAt)}</span>
              </li>
            ))}
          </ul>
        )}
      </Chart>
    </div>
  );
}

function Analysis({ jobs }: { jobs: AnalysisView[] }) {
  const metrics = useMemo(() => {
    const byName = new Map<string, MetricSeries>();
    for (const j of jobs) {
      const specs = j.job.spec.kind === 'analysis' ? j.job.spec.analysis.metrics : [];
      for (const s of specs) if (!byName.has(s.name)) byName.set(s.name, { name: s.name, spec: s, measurements: [] });
      for (const x of j.measurements) {
        let entry = byName.get(x.metric);
        if (!entry) byName.set(x.metric, (entry = { name: x.metric, measurements: [] }));
        entry.measurements.push(x);
      }
    }
    return [...byName.values()];
  }, [jobs]);
  return (
    <section aria-labelledby="analysis-title" class="card">
      <h2 id="analysis-title">Analysis, hooks and checks</h2>
      {jobs.length === 0 ? (
        <Empty>No analysis run, hook or smoke test for this rollout yet.</Empty>
      ) : (
        <ul class="jobs">
          {[...jobs].reverse().map((j) => (
            <li key={j.status.key}>
              <span class={`verdict verdict-${j.status.phase.toLowerCase()}`}>{j.status.phase}</span> <strong>{j.status.title}</strong>{' '}
              <span class="muted">({j.status.kind})</span>
              {j.status.message && <> — {j.status.message}</>} <span class="muted">{time(j.status.startedAt)}</span>
            </li>
          ))}
        </ul>
      )}
      {metrics.map((m) => (
        <MetricChart key={m.name} m={m} />
      ))}
    </section>
  );
}

function Events({ events }: { events: RolloutEvent[] }) {
  const shown = useMemo(() => [...events].sort((a, b) => b.id - a.id).slice(0, 200), [events]);
  return (
    <section aria-labelledby="events-title" class="card">
      <h2 id="events-title">Events</h2>
      <div data-testid="events">
        {shown.length === 0 ? (
          <Empty>No events yet.</Empty>
        ) : (
          <ol class="events" aria-live="polite" aria-relevant="additions">
            {shown.map((e) => (
              <li key={e.id} class={e.type === 'Warning' ? 'warning-row' : undefined}>
                <time dateTime={new Date(e.at).toISOString()}>{time(e.at)}</time>{' '}
                <strong class={e.type === 'Warning' ? 'warning' : undefined}>{e.reason}</strong> {e.message}
                {e.revision !== undefined && <span class="muted"> (r{e.revision})</span>} <span class="actor">by {e.actor}</span>
              </li>
            ))}
          </ol>
        )}
      </div>
    </section>
  );
}

const LOG_KEEP = 200_000;

function Logs({ view }: { view: RolloutView }) {
  const ids = view.instances.map((i) => i.id);
  const [instance, setInstance] = useState<string>(ids[0] ?? '');
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const pre = useRef<HTMLPreElement>(null);
  const known = ids.includes(instance);
  useEffect(() => {
    if (!known && ids.length > 0) setInstance(ids[0]!);
  }, [known, ids.join(',')]);
  useEffect(() => {
    if (!instance) return;
    let offset = 0;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setText('');
    setError(undefined);
    const poll = async () => {
      try {
        const chunk = await get<LogChunk>(`/v1/rollouts/${seg(view.name)}/logs?instance=${seg(instance)}&offset=${offset}&maxBytes=65536`);
        if (stopped) return;
        setError(undefined);
        if (chunk.offset < offset) setText(chunk.text);
        else if (chunk.text) setText((t) => (t + chunk.text).slice(-LOG_KEEP));
        offset = chunk.offset;
      } catch (err) {
        if (!stopped) setError(err);
      }
      if (!stopped) timer = setTimeout(poll, 2000);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [view.name, instance]);
  useEffect(() => {
    const el = pre.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [text]);
  return (
    <section aria-labelledby="log-title" class="card">
      <h2 id="log-title">Instance log</h2>
      {ids.length === 0 ? (
        <Empty>No instance to read a log from.</Empty>
      ) : (
        <>
          <label for="log-instance">Instance</label>{' '}
          <select id="log-instance" value={instance} onChange={(e) => setInstance((e.target as HTMLSelectElement).value)}>
            {view.instances.map((i) => (
              <option key={i.id} value={i.id}>
                {i.id} (r{i.revision}, {i.phase})
              </option>
            ))}
          </select>
          <ErrorLine error={error} />
        </>
      )}
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: the log scrolls; keyboard users need to reach it */}
      <pre class="log" data-testid="log" ref={pre} tabIndex={0} role="log" aria-live="off" aria-label={`Log of instance ${instance || 'none'}`}>
        {text || (ids.length > 0 ? '(no output yet)' : '')}
      </pre>
    </section>
  );
}

export function RolloutPage({ name }: { name: string }) {
  const epoch = useAppState((s) => s.epoch);
  const summary = useAppState((s) => s.rollouts.get(name));
  // The view and its analysis are fetched together, so what the page shows of them is of one moment
  // (an abort and the measurement that caused it appear at once).
  const [both, reload] = useLoad(
    () => Promise.all([get<RolloutView>(`/v1/rollouts/${seg(name)}`), get<AnalysisView[]>(`/v1/rollouts/${seg(name)}/analysis`).catch((e: unknown) => e)]),
    [name, epoch],
  );
  const view: Loaded<RolloutView> = both.state === 'ok' ? { state: 'ok', data: both.data[0] } : both;
  const analysis: Loaded<AnalysisView[]> =
    both.state !== 'ok' ? both : Array.isArray(both.data[1]) ? { state: 'ok', data: both.data[1] } : { state: 'error', error: both.data[1] };
  const [weightsLoaded] = useLoad(() => get<{ points: WeightPoint[] }>(`/v1/rollouts/${seg(name)}/weights`), [name, epoch]);
  const [livePoints, setLivePoints] = useState<WeightPoint[]>([]);
  const [liveEvents, setLiveEvents] = useState<RolloutEvent[]>([]);
  const reloadSoon = useDebounced(reload, 300);

  useEffect(() => {
    setLivePoints([]);
    setLiveEvents([]);
  }, [name, epoch]);

  useEffect(() => {
    const offs = [
      onStream('event', (e) => {
        if (e.rollout !== name) return;
        setLiveEvents((list) => (list.some((x) => x.id === e.id) ? list : [...list, e]));
        reloadSoon();
      }),
      onStream('weights', (w) => {
        if (w.name === name) setLivePoints((p) => [...p, w.point]);
      }),
      onStream('rollout', (r) => {
        if (r.name === name) reloadSoon();
      }),
      onStream('jobs', (j) => {
        if (j.rollout === name) reloadSoon();
      }),
    ];
    return () => {
      for (const off of offs) off();
    };
  }, [name]);

  const points = useMemo(() => {
    const base = weightsLoaded.state === 'ok' ? weightsLoaded.data.points : [];
    const last = base.at(-1)?.at ?? 0;
    return [...base, ...livePoints.filter((p) => p.at > last)];
  }, [weightsLoaded, livePoints]);

  const events = useMemo(() => {
    const base = view.state === 'ok' ? view.data.events : [];
    const ids = new Set(base.map((e) => e.id));
    return [...base, ...liveEvents.filter((e) => !ids.has(e.id))];
  }, [view, liveEvents]);

  if (view.state === 'loading') return <Loading what={`rollout ${name}`} />;
  if (view.state === 'off') return <Alert>{view.message}</Alert>;
  if (view.state === 'error') {
    return (
      <section>
        <h1>{name}</h1>
        <ErrorLine error={view.error} />
        <p>
          <a href="#/">Back to the rollouts</a>
        </p>
      </section>
    );
  }
  const v = view.data;
  const st = v.status;
  const step = summary?.step !== undefined && summary.steps ? { step: summary.step, steps: summary.steps } : stepOf(v);
  const current = v.revisions.find((r) => r.number === st.currentRevision);
  const showReason = st.phase === 'Degraded' || st.aborted;
  return (
    <article aria-labelledby="rollout-title">
      <p class="crumbs">
        <a href="#/">Rollouts</a> / {v.name}
      </p>
      <header class="rollout-head">
        <h1 id="rollout-title">{v.name}</h1>
        <dl class="facts">
          <div>
            <dt>Phase</dt>
            <dd>
              <span class={phaseClass(st.phase)} data-testid="phase">
                {st.phase}
              </span>{' '}
              <span class="muted">{st.reason}</span>
            </dd>
          </div>
          <div>
            <dt>Step</dt>
            <dd data-testid="step">{step ? `step ${step.step}/${step.steps}` : 'no steps'}</dd>
          </div>
          <div>
            <dt>Strategy</dt>
            <dd>{v.spec.strategy.type}</dd>
          </div>
          <div>
            <dt>Revision</dt>
            <dd>
              r{st.currentRevision}
              {current ? ` (${current.template.version})` : ''}
              {st.stableRevision !== null && st.stableRevision !== st.currentRevision ? `, stable r${st.stableRevision}` : ''}
            </dd>
          </div>
          {v.spec.environment && (
            <div>
              <dt>Environment</dt>
              <dd>{v.spec.environment}</dd>
            </div>
          )}
          <div>
            <dt>Traffic</dt>
            <dd>{fmtWeights(st.weights)}</dd>
          </div>
        </dl>
        <p class="status-message" data-testid="status-message">
          {st.message || '—'}
        </p>
        {showReason && (
          <div class="alert" data-testid="abort-reason">
            <strong>{st.aborted ? 'Aborted' : 'Degraded'}:</strong> {st.reason}
            {st.message ? ` — ${st.message}` : ''}
          </div>
        )}
        {st.trafficHold && (
          <p class="alert">
            Traffic {st.trafficHold.mode} by {st.trafficHold.by} since {time(st.trafficHold.since)}.
          </p>
        )}
        <p class="muted">Updated {time(st.updatedAt)}</p>
      </header>
      <Actions view={v} onDone={reload} />
      <div class="grid">
        <Steps view={v} />
        <WeightChart name={v.name} points={points} />
      </div>
      <Revisions view={v} />
      {analysis.state === 'ok' ? (
        <Analysis jobs={analysis.data} />
      ) : analysis.state === 'error' ? (
        <section class="card">
          <h2>Analysis</h2>
          <ErrorLine error={analysis.error} />
        </section>
      ) : null}
      {weightsLoaded.state === 'error' && <ErrorLine error={weightsLoaded.error} />}
      <Events events={events} />
      <Logs view={v} />
    </article>
  );
}
