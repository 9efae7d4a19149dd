/**
 * Pure text rendering for the CLI: tables, ages, traffic bars and the rollout view.
 * Everything takes `now` explicitly so it can be tested without a clock.
 */
import { renderProgressBar } from '../migrations/backfill.js';
import type { AnalysisView } from '../engine/actions.js';
import type { Measurement, MetricRunStatus } from '../core/analysis.js';
import type { ApplyResult } from '../engine/actions.js';
import type { Revision, RolloutEvent, RolloutView } from '../core/rollout.js';
import type { InstanceStatus } from '../core/platform.js';

/** Columns separated by three spaces, padded to the widest cell (kubectl style). */
export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** Compact age, as kubectl prints it: 45s, 3m12s, 17m, 5h, 3d. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** `████████████████░░░░` for 80 with the default width of 20. */
export function weightBar(weight: number, width = 20): string {
  const w = Math.min(100, Math.max(0, weight));
  const filled = Math.round((w / 100) * width);
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

export function renderApplyResult(r: ApplyResult): string {
  if (r.kind === 'FeatureFlag') return `featureflag/${r.name} ${r.result}`;
  if (r.kind === 'Environment' || r.kind === 'Pipeline') return `${r.kind.toLowerCase()}/${r.name} ${r.result}`;
  return `rollout/${r.name} ${r.result} (revision ${r.revision})`;
}

/** "Progressing (CanaryPauseStep): waiting for promotion" */
export function describePhase(view: RolloutView): string {
  const { phase, reason, message } = view.status;
  return `${phase}${reason ? ` (${reason})` : ''}${message ? `: ${message}` : ''}`;
}

export function statusLine(view: RolloutView): string {
  return `${view.name}: ${describePhase(view)}`;
}

function revisionOf(view: RolloutView, number: number | null | undefined): Revision | undefined {
  return number == null ? undefined : view.revisions.find((r) => r.number === number);
}

/** "v2 (rev 2)", or "rev 2" when the revision is no longer in the view. */
export function revisionLabel(view: RolloutView, number: number | null | undefined): string {
  if (number == null) return '-';
  const rev = revisionOf(view, number);
  return rev ? `${rev.template.version} (rev ${number})` : `rev ${number}`;
}

/**
 * Canary step "2/5": the step being executed, counted from 1 as the engine's messages do;
 * "5/5" once all are done or no release is in progress. "-" for other strategies.
 */
export function stepText(view: RolloutView): string {
  const strategy = view.spec.strategy;
  if (strategy.type !== 'canary') return '-';
  const total = strategy.steps.length;
  const { stepIndex, currentRevision, stableRevision } = view.status;
  const step = currentRevision === stableRevision ? total : Math.min(stepIndex + 1, total);
  return `${step}/${total}`;
}

/** Share of traffic on the revision being released, while a release is in progress. */
export function releaseWeight(view: RolloutView): number | undefined {
  const { currentRevision, stableRevision, weights } = view.status;
  if (stableRevision === null || currentRevision === stableRevision) return undefined;
  return weights.find((w) => w.revision === currentRevision)?.weight ?? 0;
}

/** Instances still in play: stopped ones no longer count. */
function liveInstances(view: RolloutView): InstanceStatus[] {
  return view.instances.filter((i) => i.phase !== 'Stopped');
}

export function renderRolloutList(views: RolloutView[], now: number): string {
  if (views.length === 0) return 'No rollouts. Create one with `sluice apply -f FILE`.';
  const rows = [...views]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((v) => {
      const weight = releaseWeight(v);
      return [
        v.name,
        v.spec.strategy.type,
        v.status.phase,
        stepText(v),
        weight === undefined ? '-' : `${weight}%`,
        revisionLabel(v, v.status.stableRevision),
        revisionLabel(v, v.status.currentRevision),
        formatAge(now - v.createdAt),
      ];
    });
  return renderTable(['NAME', 'STRATEGY', 'PHASE', 'STEP', 'WEIGHT', 'STABLE', 'CURRENT', 'AGE'], rows);
}

function revisionRoles(view: RolloutView, number: number): string[] {
  const s = view.status;
  const roles: string[] = [];
  if (number === s.currentRevision) roles.push('current');
  if (number === s.stableRevision) roles.push('stable');
  if (s.activeRevision !== null && number === s.activeRevision && view.spec.strategy.type === 'blueGreen') roles.push('active');
  if (number === s.scaleDownRevision) roles.push('scaling down');
  return roles;
}

export function renderEventLine(e: RolloutEvent): string {
  const time = new Date(e.at)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  const by = e.actor && e.actor !== 'engine' ? ` (by ${e.actor})` : '';
  const rev = e.revision !== undefined ? ` [rev ${e.revision}]` : '';
  return `${time}  ${e.type.padEnd(7)}  ${e.reason.padEnd(22)}  ${e.message}${rev}${by}`;
}

function indent(text: string, by = '  '): string {
  return text
    .split('\n')
    .map((l) => (l ? by + l : l))
    .join('\n');
}

/** The `sluice get rollout NAME` view. */
export function renderRolloutView(view: RolloutView, now: number, options: { events?: number } = {}): string {
  const s = view.status;
  const strategy = view.spec.strategy;
  const live = liveInstances(view);
  const out: string[] = [];
  const field = (label: string, value: string) => out.push(`${(label + ':').padEnd(11)} ${value}`);

  field('Name', view.name);
  field('Phase', describePhase(view));
  field('Strategy', strategy.type + (strategy.type === 'canary' ? `   Step: ${stepText(view)}` : ''));
  field('Replicas', `${view.spec.replicas} desired, ${live.filter((i) => i.phase === 'Ready').length} ready`);
  field('Listen', view.spec.traffic.listen);
  if (strategy.type === 'blueGreen' && strategy.previewListen) field('Preview', strategy.previewListen);
  if (strategy.type === 'canary' && strategy.canaryListen) field('Canary', strategy.canaryListen);

  // Revisions worth showing: the ones in play, not the whole history.
  const shown = new Set<number>();
  for (const n of [s.currentRevision, s.stableRevision, s.activeRevision, s.scaleDownRevision]) if (n != null) shown.add(n);
  for (const w of s.weights) shown.add(w.revision);
  for (const i of live) shown.add(i.revision);
  const numbers = [...shown].sort((a, b) => b - a);
  out.push('', 'Revisions:');
  out.push(
    indent(
      renderTable(
        ['REV', 'VERSION', 'ROLE', 'READY', 'CAUSE'],
        numbers.map((n) => {
          const mine = live.filter((i) => i.revision === n);
          const rev = revisionOf(view, n);
          return [
            String(n),
            rev?.template.version ?? '?',
            revisionRoles(view, n).join(',') || '-',
            `${mine.filter((i) => i.phase === 'Ready').length}/${mine.length}`,
            rev?.cause ?? '-',
          ];
        }),
      ),
    ),
  );

  out.push('', 'Traffic:');
  const split = s.weights;
  if (split.length === 0) out.push('  (no traffic routed)');
  else {
    const labels = split.map((w) => revisionLabel(view, w.revision));
    const width = Math.max(...labels.map((l) => l.length));
    for (const [i, w] of split.entries()) out.push(`  ${labels[i]!.padEnd(width)} ${weightBar(w.weight)} ${w.weight}%`);
  }
  const hold = s.trafficHold;
  if (hold) {
    const what =
      hold.mode === 'stopped'
        ? 'STOPPED: every request gets the maintenance answer'
        : `PAUSED: new requests wait up to ${Math.round((hold.pauseTimeoutMs ?? 0) / 1000)}s each`;
    out.push(`  ${what} (by ${hold.by}, ${formatAge(now - hold.since)} ago) — \`sluice resume-traffic ${view.name}\``);
  }
  for (const m of s.mirrorRoutes ?? []) out.push(`  mirror ${m.name}: ${m.percentage}% of matching requests copied to revision ${s.currentRevision}`);
  if (s.shadowSince !== undefined && view.spec.strategy.type === 'shadow') {
    out.push(`  shadow: ${view.spec.strategy.mirror.percentage}% of requests copied to revision ${s.currentRevision} for ${formatAge(now - s.shadowSince)}`);
  }

  const experiment = `r${s.currentRevision}a${s.attempt ?? 0}`;
  const exposures = (view.exposures ?? []).filter((e) => e.experiment === experiment || s.currentRevision === s.stableRevision);
  const latest = exposures.filter((e) => e.experiment === exposures.at(-1)?.experiment);
  if (latest.length > 0) {
    out.push('', `Exposures (A/B test ${latest[0]!.experiment}, since ${formatAge(now - latest[0]!.startedAt)} ago):`);
    out.push(
      indent(
        renderTable(
          ['VARIANT', 'REVISION', 'REQUESTS', 'NEW USERS'],
          latest.map((e) => [e.variant, String(e.revision), String(e.requests), String(e.users)]),
        ),
      ),
    );
  }

  out.push('', 'Instances:');
  if (live.length === 0) out.push('  (none)');
  else {
    const rows = [...live]
      .sort((a, b) => b.revision - a.revision || a.id.localeCompare(b.id))
      .map((i) => [i.id, String(i.revision), i.phase, String(i.restarts), i.pid ? String(i.pid) : '-', String(i.port), formatAge(now - i.startedAt)]);
    out.push(indent(renderTable(['ID', 'REVISION', 'PHASE', 'RESTARTS', 'PID', 'PORT', 'AGE'], rows)));
  }

  const jobs = (view.jobs ?? []).filter((j) => j.key.includes(`/r${s.currentRevision}/a${s.attempt ?? 0}/`));
  if (jobs.length > 0) {
    out.push('', 'Analysis and checks:');
    for (const j of jobs) {
      out.push(`  ${j.title}: ${j.phase} — ${j.message}`);
      for (const m of j.metrics ?? []) out.push(`    ${metricLine(m)}`);
      for (const b of j.migration?.backfill ?? []) out.push(`    ${renderProgressBar(b, 24)}`);
    }
  }

  const limit = options.events ?? 8;
  const events = [...view.events].sort((a, b) => a.id - b.id).slice(-limit);
  out.push('', 'Events:');
  if (events.length === 0) out.push('  (none)');
  else for (const e of events) out.push('  ' + renderEventLine(e));
  return out.join('\n');
}

/** `sluice history NAME`: newest first, current and stable marked. */
export function renderHistory(revisions: Revision[], view: Pick<RolloutView, 'status'> | undefined, now: number): string {
  const rows = [...revisions]
    .sort((a, b) => b.number - a.number)
    .map((r) => {
      const marks: string[] = [];
      if (view?.status.currentRevision === r.number) marks.push('current');
      if (view?.status.stableRevision === r.number) marks.push('stable');
      return [`${r.number}${marks.length ? ` (${marks.join(', ')})` : ''}`, r.template.version, r.cause, formatAge(now - r.createdAt)];
    });
  return renderTable(['REVISION', 'VERSION', 'CAUSE', 'CREATED'], rows);
}

/** A stable digest of what a view shows, minus the clock, to tell whether it changed. */
export function viewFingerprint(view: RolloutView): string {
  const { updatedAt: _u, progressAt: _p, ...status } = view.status;
  return JSON.stringify({
    status,
    instances: view.instances.map((i) => [i.id, i.revision, i.phase, i.restarts]),
    revisions: view.revisions.map((r) => r.number),
    lastEvent: view.events.reduce((max, e) => Math.max(max, e.id), 0),
  });
}

/**
 * "3 measured: 1 ok, 1 failed, 1 while the window filled": every measurement counted once,
 * so the parts add up (those taken while a window was filling count toward no limit).
 */
export function measuredSummary(m: MetricRunStatus): string {
  const filling = m.measured - m.successful - m.failed - m.inconclusive - m.errors;
  const parts = [
    [m.successful, 'ok'],
    [m.failed, 'failed'],
    [m.inconclusive, 'inconclusive'],
    [m.errors, m.errors === 1 ? 'error' : 'errors'],
    [filling, 'while the window filled (not counted)'],
  ]
    .filter(([n]) => (n as number) > 0)
    .map(([n, what]) => `${n} ${what}`);
  return `${m.measured} measured${parts.length ? `: ${parts.join(', ')}` : ''}`;
}

function metricLine(m: MetricRunStatus): string {
  const last = m.last ? `; last ${m.last.value === null || m.last.value === undefined ? 'no value' : showValue(m.last.value)} (${m.last.phase})` : '';
  return `${m.name}: ${m.phase}, ${measuredSummary(m)}${last}${m.dryRun ? ' [dry run]' : ''}`;
}

function showValue(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  return JSON.stringify(v) ?? 'none';
}

const MARK: Record<Measurement['phase'], string> = { Successful: '✓', Failed: '✗', Inconclusive: '?', Error: '!' };

/** What the value was computed over: "120 requests (stable 118) over 30s", "40 copies compared over 30s". */
function basis(details: Record<string, unknown> | undefined): string {
  if (!details) return '';
  const parts: string[] = [];
  if (typeof details.compared === 'number') parts.push(`${details.compared} copies compared`);
  else if (typeof details.requests === 'number') {
    parts.push(
      `${details.requests} request${details.requests === 1 ? '' : 's'}${typeof details.stableRequests === 'number' ? ` (stable ${details.stableRequests})` : ''}`,
    );
  }
  if (typeof details.window === 'number') parts.push(`over ${details.window}s${details.truncated ? ' (window truncated)' : ''}`);
  return parts.join(' ');
}

/** One measurement: when, verdict, value, what it was computed over and why it was not a success. */
function measurementLine(x: Measurement, now: number): string {
  const value = x.value === null || x.value === undefined ? 'no value' : showValue(x.value);
  const why = x.phase === 'Successful' ? '' : (x.message ?? '');
  return [`${formatAge(now - x.finishedAt)} ago`, `${MARK[x.phase]} ${x.phase}`, value, basis(x.details), why].filter(Boolean).join('  ');
}

/** `sluice get analysis NAME`: every run, hook and smoke test, with each metric's recent measurements against its conditions. */
export function renderAnalysis(views: AnalysisView[], now: number): string {
  if (views.length === 0) return '(no analysis, hooks or smoke tests have run for this rollout)';
  const out: string[] = [];
  for (const v of views) {
    const st = v.status;
    const age = formatAge(now - st.startedAt);
    out.push(`${st.title} [${st.key}] ${st.phase} (${age} ago${st.actor ? `, by ${st.actor}` : ''})`, `  ${st.message}`);
    if (v.job.spec.kind !== 'analysis') continue;
    for (const metric of v.job.spec.analysis.metrics) {
      const ms = v.measurements.filter((x) => x.metric === metric.name).slice(-10);
      const status = st.metrics?.find((x) => x.name === metric.name);
      const conds = [metric.successCondition && `success: ${metric.successCondition}`, metric.failureCondition && `failure: ${metric.failureCondition}`]
        .filter(Boolean)
        .join(', ');
      out.push(
        `  ${metric.name} (${Object.keys(metric.provider)[0]}, every ${metric.interval}s${metric.count ? `, ${metric.count} times` : ''}; ${conds || 'no condition'}): ${status?.phase ?? 'Pending'}${metric.dryRun ? ' [dry run]' : ''}`,
      );
      if (status) out.push(`    ${measuredSummary(status)}`);
      if (ms.length === 0) out.push('    (no measurement yet)');
      else {
        out.push(`    last ${ms.length}:`);
        for (const x of ms) out.push(`      ${measurementLine(x, now)}`);
      }
    }
  }
  return out.join('\n');
}
