/**
 * The playbook's documents (PROC-BACK-005) as Markdown, from what sluice records: the
 * production deployment request with its approval checklist, the deployment log, the
 * post-deploy report and a pre-filled post-mortem. Pure: the caller gathers the facts
 * (releases, stage states, approvals, events, each service's rollout facts) and the clock
 * (`now`); times are ISO UTC. docs/pipelines-reports.md shows the documents.
 */
import type { ApprovalRecord, PipelineRecord, PipelineSpec, ReleaseEvent, ReleaseRecord, ReleaseStageState, StageSpec } from '../core/pipeline.js';
import { humanDuration } from './dora.js';

/** One service's part of a release in the stage's environment, as its rollout knows it. */
export interface ServiceFacts {
  service: string;
  rollout: string;
  environment: string;
  fromVersion?: string;
  toVersion: string;
  /** e.g. "canary 10% → 50% → 100%, analysis each step". */
  strategy: string;
  steps: string[];
  migrations: { name: string; phases: string[]; lintClasses: string[] }[];
  rollbackPlan: string;
  rollbackEstimateSeconds?: number;
  expectedDowntime: string;
  /** The post-deploy watch: thresholds, duration. */
  watch?: string;
  /** The rollout's own events. */
  events: { at: number; type: string; reason: string; message: string; actor?: string }[];
  analysis: { at: number; metric: string; value?: number; verdict: string }[];
}

export interface ReleaseFacts {
  release: ReleaseRecord;
  pipeline: PipelineSpec;
  stage: StageSpec;
  state?: ReleaseStageState;
  /** The release's approvals (any stage; withdrawn ones included). */
  approvals: ApprovalRecord[];
  /** The release's events (any stage). */
  events: ReleaseEvent[];
  /** In deploy order. */
  services: ServiceFacts[];
  /** The window gate's message now (gateOfWindows), when the caller asked it. */
  windowMessage?: string;
  now: number;
}

export interface DeploymentLogRow {
  version: string;
  at: number;
  environment: string;
  stage: string;
  by: string;
  result: string;
  incidents: string;
}

/** Lint classes that make a migration a risk to name in the request (expand alone is safe). */
const RISKY_CLASSES = new Set(['contract', 'lock', 'impossible', 'data']);
/** Around a failure, the analysis entries shown as "metrics at the abort". */
const ABORT_BEFORE_MS = 10 * 60_000;
const ABORT_AFTER_MS = 60_000;
const NONE = '—';
const TO_FILL = '_to fill in_';

// ---- shared helpers ----

/** An instant as ISO UTC, to the second. */
export function iso(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

/** A Markdown table (cells escaped: `|` and newlines). */
export function table(header: string[], rows: string[][]): string {
  const line = (r: string[]): string => `| ${r.map(cell).join(' | ')} |`;
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

const bullets = (items: string[], empty = 'none'): string => (items.length > 0 ? items : [empty]).map((i) => `- ${i}`).join('\n');
const section = (title: string, body: string): string => `## ${title}\n\n${body}\n`;
const doc = (title: string, parts: string[]): string => `# ${title}\n\n${parts.join('\n')}`;
const field = (name: string, value: string): string => `**${name}:** ${value}  `;
const num = (v: number | undefined): string => (v === undefined ? NONE : String(Number(v.toPrecision(6))));

interface TimelineEntry {
  at: number;
  source: string;
  actor: string;
  type: string;
  reason: string;
  message: string;
}

/** The release's events in this stage (and those of no stage) and the services' rollout events, by time. */
function timeline(f: ReleaseFacts): TimelineEntry[] {
  const release = f.events
    .filter((e) => e.stage === undefined || e.stage === f.stage.name)
    .map((e) => ({ at: e.at, source: 'release', actor: e.actor, type: e.type, reason: e.reason, message: e.message }));
  const rollouts = f.services.flatMap((s) =>
    s.events.map((e) => ({ at: e.at, source: s.service, actor: e.actor ?? 'engine', type: e.type, reason: e.reason, message: e.message })),
  );
  return [...release, ...rollouts].sort((a, b) => a.at - b.at);
}

const timelineTable = (entries: TimelineEntry[]): string =>
  entries.length === 0
    ? 'no events recorded'
    : table(
        ['Time', 'Source', 'Actor', 'Event', 'Message'],
        entries.map((e) => [iso(e.at), e.source, e.actor, `${e.type === 'Warning' ? '⚠ ' : ''}${e.reason}`, e.message]),
      );

function header(f: ReleaseFacts): string {
  const r = f.release;
  return [
    field('Version', r.version),
    field('Pipeline', `${f.pipeline.name}, stage ${f.stage.name} (environment ${f.stage.environment})`),
    field('Commit', `${r.commit}${r.commitAt !== undefined ? ` (${iso(r.commitAt)})` : ''}`),
    field('Created', `${iso(r.createdAt)} by @${r.createdBy}`),
    ...(r.hotfixOf !== undefined ? [field('Hotfix of', r.hotfixOf)] : []),
  ].join('\n');
}

function stateLine(state: ReleaseStageState | undefined): string {
  if (!state) return 'not asked to enter yet (Pending)';
  const parts = [`${state.phase} (${state.reason}): ${state.message}`];
  if (state.enteredAt !== undefined) parts.push(`entered ${iso(state.enteredAt)} by ${state.enteredBy ?? 'sluice'}`);
  if (state.healthyAt !== undefined) parts.push(`Healthy ${iso(state.healthyAt)}`);
  if (state.failedAt !== undefined) parts.push(`failed ${iso(state.failedAt)}`);
  if (state.restoredAt !== undefined) parts.push(`restored ${iso(state.restoredAt)}`);
  return parts.join('; ');
}

// ---- the deployment request ----

function changes(f: ReleaseFacts): string {
  const notes = f.release.notes
    .split('\n')
    .map((l) => l.trim().replace(/^[-*]\s+/, ''))
    .filter((l) => l !== '');
  const env = f.release.services.flatMap((s) => {
    const vars = Object.entries(s.env).map(([k, v]) => (v === null ? `${k} removed` : `${k}=${v}`));
    return vars.length > 0 ? [`${s.service} configuration: ${vars.join(', ')}`] : [];
  });
  const migrations = f.services.flatMap((s) => s.migrations.map((m) => `${s.service} migration: ${m.name}`));
  return bullets([...notes, ...migrations, ...env], 'no release notes');
}

/** What could go wrong, read off the facts. */
export function risks(f: ReleaseFacts): string[] {
  return f.services.flatMap((s) => {
    const out: string[] = [];
    for (const m of s.migrations) {
      const risky = m.lintClasses.filter((c) => RISKY_CLASSES.has(c));
      if (risky.length > 0) out.push(`${s.service}: migration ${m.name} is ${risky.join(', ')} (not expand-only)`);
    }
    if (s.watch === undefined && s.analysis.length === 0 && !/analysis/i.test(s.strategy)) {
      out.push(`${s.service}: no analysis and no post-deploy watch — a bad version is noticed only by people`);
    }
    if (s.fromVersion === undefined) out.push(`${s.service}: first deploy in ${s.environment} — no earlier version to roll back to`);
    if (s.rollbackEstimateSeconds === undefined) out.push(`${s.service}: no rollback time estimate`);
    if (!/^(none|no downtime|zero|0\b)/i.test(s.expectedDowntime.trim())) out.push(`${s.service}: expected downtime ${s.expectedDowntime}`);
    return out;
  });
}

function rollbackPlan(f: ReleaseFacts): string {
  const lines = f.services.map(
    (s) =>
      `${s.service}: ${s.rollbackPlan}${s.fromVersion !== undefined ? ` (back to ${s.fromVersion})` : ''}; estimate ${s.rollbackEstimateSeconds !== undefined ? humanDuration(s.rollbackEstimateSeconds) : 'unknown'}`,
  );
  const known = f.services.filter((s) => s.rollbackEstimateSeconds !== undefined);
  const total = known.reduce((n, s) => n + s.rollbackEstimateSeconds!, 0);
  const order = [...f.services].reverse().map((s) => s.service);
  if (f.services.length > 1) {
    lines.push(
      `all, in reverse order (${order.join(', ')}): ${known.length === f.services.length ? humanDuration(total) : `at least ${humanDuration(total)}`}`,
    );
  }
  return bullets(lines);
}

function windowSection(f: ReleaseFacts): string {
  const lines = [
    ...f.stage.windows.map((w) => `window: ${w.days.join(',')} ${w.start}–${w.end} ${w.timeZone}`),
    ...f.stage.freezes.map((z) => `freeze: ${z.from} → ${z.to} ${z.timeZone}${z.reason !== undefined ? ` (${z.reason})` : ''}`),
  ];
  if (lines.length === 0) lines.push('no window or freeze: the stage opens whenever its gates pass');
  if (f.windowMessage !== undefined) lines.push(`now (${iso(f.now)}): ${f.windowMessage}`);
  return bullets(lines);
}

function checklist(f: ReleaseFacts): string {
  const entered = f.state?.enteredAt !== undefined;
  const items = f.stage.checklist.map((item) => {
    if (item.check !== undefined) {
      return entered ? `[x] ${item.name} — checked by sluice (\`${item.check}\`) at entry` : `[ ] ${item.name} — sluice checks \`${item.check}\` at entry`;
    }
    const ticked = f.state?.checked[item.name];
    return ticked
      ? `[x] ${item.name} — @${ticked.by} at ${iso(ticked.at)}`
      : `[ ] ${item.name} — \`sluice release check ${f.release.id} --stage ${f.stage.name} --item ${item.name}\``;
  });
  return bullets(items, 'no checklist in this stage');
}

/** The approval checklist: per rule, who approved (ticked), the slots still missing (unchecked), rejections and withdrawals. */
export function approvalChecklist(f: ReleaseFacts): string {
  const mine = f.approvals.filter((a) => a.stage === f.stage.name).sort((a, b) => a.at - b.at || a.id - b.id);
  const said = (a: ApprovalRecord): string =>
    `@${a.user} ${a.decision === 'approve' ? 'approved' : 'rejected'} ${iso(a.at)}${a.comment ? ` — “${a.comment}”` : ''}`;
  const countsFor = (a: ApprovalRecord): boolean => f.stage.selfApproval || a.user !== f.release.createdBy;
  const lines: string[] = [];
  let blockingMissing = 0;
  for (const rule of f.stage.approvals) {
    const kind = rule.blocking ? 'blocking' : 'optional';
    const ofRole = mine.filter((a) => a.role === rule.role);
    const seen = new Set<string>();
    const counting = ofRole.filter((a) => {
      if (a.decision !== 'approve' || a.withdrawnAt !== undefined || !countsFor(a) || seen.has(a.user)) return false;
      seen.add(a.user);
      return true;
    });
    counting.forEach((a, i) => {
      lines.push(`[x] ${rule.role} ${i < rule.count ? `${i + 1}/${rule.count}` : 'extra'} (${kind}): ${said(a)}`);
    });
    for (let i = counting.length; i < rule.count; i++) {
      lines.push(`[ ] ${rule.role} ${i + 1}/${rule.count} (${kind}): missing`);
      if (rule.blocking) blockingMissing++;
    }
    for (const a of ofRole) {
      if (a.withdrawnAt !== undefined) lines.push(`~~${rule.role}: ${said(a)}~~ — withdrawn ${iso(a.withdrawnAt)}`);
      else if (a.decision === 'reject') lines.push(`[ ] ✗ ${rule.role}: ${said(a)} — blocks entry until withdrawn`);
      else if (!countsFor(a)) lines.push(`${rule.role}: ${said(a)} — does not count (created the release; the stage forbids self-approval)`);
    }
  }
  const ruled = new Set(f.stage.approvals.map((r) => r.role));
  for (const a of mine.filter((x) => !ruled.has(x.role))) lines.push(`${a.role} (no rule in this stage): ${said(a)}`);
  const rejected = mine.some((a) => a.decision === 'reject' && a.withdrawnAt === undefined);
  const status = rejected
    ? 'rejected: a standing rejection holds the release'
    : blockingMissing > 0
      ? `waiting for ${blockingMissing} blocking approval(s) — \`sluice approve ${f.release.id} --stage ${f.stage.name}\``
      : 'every blocking approval given';
  return `${lines.length > 0 ? `${bullets(lines)}\n\n` : 'no approvals asked in this stage\n\n'}${status}`;
}

/** The production deployment request (playbook, phase 7). */
export function renderDeploymentRequest(f: ReleaseFacts): string {
  const services = table(
    ['#', 'Service', 'Rollout', 'Version', 'Strategy', 'Steps'],
    f.services.map((s, i) => [
      String(i + 1),
      s.service,
      s.rollout,
      `${s.fromVersion ?? '(new)'} → ${s.toVersion}`,
      s.strategy,
      s.steps.length > 0 ? s.steps.join('; ') : NONE,
    ]),
  );
  const migrations = f.services.flatMap((s) => s.migrations.map((m) => [s.service, m.name, m.phases.join(', ') || NONE, m.lintClasses.join(', ') || NONE]));
  return doc(`Deployment request: ${f.release.version} → ${f.stage.name}`, [
    `${header(f)}\n${field('State', stateLine(f.state))}\n`,
    section('Changes', changes(f)),
    section('Services (in deploy order)', services),
    section('Migrations', migrations.length > 0 ? table(['Service', 'Migration', 'Phases', 'Lint classes'], migrations) : 'none'),
    section('Risks', bullets(risks(f), 'none found: expand-only migrations, every service measured, a version to roll back to')),
    section('Rollback plan', rollbackPlan(f)),
    section('Expected downtime', bullets(f.services.map((s) => `${s.service}: ${s.expectedDowntime}`))),
    section('Deployment window', windowSection(f)),
    section('Checklist', checklist(f)),
    section('Approvals', approvalChecklist(f)),
  ]);
}

// ---- the deployment log ----

export function deploymentLog(input: {
  releases: ReleaseRecord[];
  states: ReleaseStageState[];
  events: ReleaseEvent[];
  pipelines: PipelineRecord[];
  environment?: string;
}): DeploymentLogRow[] {
  const releases = new Map(input.releases.map((r) => [r.id, r]));
  const pipelines = new Map(input.pipelines.map((p) => [p.name, p.spec]));
  const rows: DeploymentLogRow[] = [];
  for (const s of input.states) {
    const release = releases.get(s.release);
    const environment = release && pipelines.get(release.pipeline)?.stages.find((st) => st.name === s.stage)?.environment;
    if (!release || environment === undefined || s.enteredAt === undefined) continue;
    if (input.environment !== undefined && environment !== input.environment) continue;
    const result =
      s.failedAt !== undefined
        ? s.restoredAt !== undefined
          ? 'ROLLED BACK'
          : 'FAILED'
        : s.healthyAt !== undefined
          ? 'SUCCESS'
          : s.phase === 'Deploying'
            ? 'DEPLOYING'
            : s.phase.toUpperCase();
    const warnings = input.events.filter((e) => e.release === s.release && e.stage === s.stage && e.type === 'Warning').sort((a, b) => a.at - b.at);
    const hotfixes = input.releases.filter((r) => r.hotfixOf === release.id).map((r) => `hotfix ${r.version}`);
    const reasons = [...new Set(warnings.map((e) => e.reason))];
    rows.push({
      version: release.version,
      at: s.enteredAt,
      environment,
      stage: s.stage,
      by: s.promotedBy ?? s.enteredBy ?? 'sluice',
      result,
      incidents: [`${warnings.length}${reasons.length > 0 ? ` (${reasons.join(', ')})` : ''}`, ...hotfixes].join('; '),
    });
  }
  return rows.sort((a, b) => b.at - a.at || a.stage.localeCompare(b.stage));
}

/** The playbook's deployment log table (phase 12). */
export function renderDeploymentLog(rows: DeploymentLogRow[]): string {
  const body =
    rows.length === 0
      ? 'no deployments'
      : table(
          ['Version', 'Date', 'Environment', 'Stage', 'Deployed by', 'Result', 'Incidents'],
          rows.map((r) => [r.version, iso(r.at), r.environment, r.stage, r.by, r.result, r.incidents]),
        );
  return `# Deployment log\n\n${body}\n`;
}

// ---- after the deploy ----

const analysisTable = (entries: { service: string; at: number; metric: string; value?: number; verdict: string }[]): string =>
  entries.length === 0
    ? 'no analysis recorded'
    : table(
        ['Time', 'Service', 'Metric', 'Value', 'Verdict'],
        entries.map((a) => [iso(a.at), a.service, a.metric, num(a.value), a.verdict]),
      );

const allAnalysis = (f: ReleaseFacts): { service: string; at: number; metric: string; value?: number; verdict: string }[] =>
  f.services.flatMap((s) => s.analysis.map((a) => ({ service: s.service, ...a }))).sort((a, b) => a.at - b.at);

/** What happened in the stage: per service its steps, watch and analysis, then the timeline. */
export function renderPostDeployReport(f: ReleaseFacts): string {
  const st = f.state;
  const took = st?.enteredAt !== undefined && st.healthyAt !== undefined ? `; deployed in ${humanDuration((st.healthyAt - st.enteredAt) / 1000)}` : '';
  const services = f.services.map((s) =>
    [
      `### ${s.service} (${s.rollout}): ${s.fromVersion ?? '(new)'} → ${s.toVersion}\n`,
      field('Strategy', s.strategy),
      field('Post-deploy watch', s.watch ?? 'none'),
      '',
      s.steps.length > 0 ? s.steps.map((x, i) => `${i + 1}. ${x}`).join('\n') : 'no steps',
      '',
      analysisTable(s.analysis.map((a) => ({ service: s.service, ...a }))),
      '',
    ].join('\n'),
  );
  return doc(`Post-deploy report: ${f.release.version} in ${f.stage.name}`, [
    `${header(f)}\n${field('Result', stateLine(st) + took)}\n${field('Report time', iso(f.now))}\n`,
    section('Services', services.join('\n')),
    section('Timeline', timelineTable(timeline(f))),
  ]);
}

/** A post-mortem skeleton (playbook, appendix B) filled from the record; cause and actions left to people. */
export function renderPostMortem(f: ReleaseFacts): string {
  const st = f.state;
  const failedAt = st?.failedAt;
  const entries = timeline(f);
  const duration =
    failedAt === undefined
      ? NONE
      : st?.restoredAt !== undefined
        ? `${humanDuration((st.restoredAt - failedAt) / 1000)} (${iso(failedAt)} → ${iso(st.restoredAt)})`
        : `not restored as of ${iso(f.now)} (${humanDuration((f.now - failedAt) / 1000)} so far)`;
  const summary =
    failedAt === undefined
      ? `No failure is recorded for ${f.release.version} in ${f.stage.name}: ${stateLine(st)}.`
      : [
          `${f.release.version} (commit ${f.release.commit}) entered ${f.stage.name} (environment ${f.stage.environment})` +
            (st?.enteredAt !== undefined ? ` at ${iso(st.enteredAt)} by ${st.enteredBy ?? 'sluice'}` : '') +
            `, and failed at ${iso(failedAt)}: ${st!.message}.`,
          st?.restoredAt !== undefined ? `The environment was Healthy again at ${iso(st.restoredAt)} on the previous version.` : 'It is not restored yet.',
        ].join(' ');
  const aroundAbort = failedAt === undefined ? [] : allAnalysis(f).filter((a) => a.at >= failedAt - ABORT_BEFORE_MS && a.at <= failedAt + ABORT_AFTER_MS);
  const metrics =
    failedAt === undefined
      ? 'no abort'
      : `Analysis from ${iso(failedAt - ABORT_BEFORE_MS)} to ${iso(failedAt + ABORT_AFTER_MS)} (the failure at ${iso(failedAt)}):\n\n${analysisTable(aroundAbort)}`;
  const acts = new Map<string, string[]>();
  const did = (actor: string, what: string): void => {
    if (!acts.has(actor)) acts.set(actor, []);
    acts.get(actor)!.push(what);
  };
  did(f.release.createdBy, `created the release ${iso(f.release.createdAt)}`);
  for (const a of f.approvals.filter((x) => x.stage === f.stage.name).sort((x, y) => x.at - y.at)) {
    did(
      a.user,
      `${a.decision === 'approve' ? 'approved' : 'rejected'} as ${a.role} ${iso(a.at)}${a.withdrawnAt !== undefined ? ` (withdrawn ${iso(a.withdrawnAt)})` : ''}`,
    );
  }
  for (const e of entries) did(e.actor, `${e.reason} (${e.source}) ${iso(e.at)}`);
  return doc(`Post-mortem: ${failedAt !== undefined ? 'failure of ' : ''}${f.release.version} in ${f.stage.name}`, [
    [
      field('Incident', failedAt !== undefined ? iso(failedAt) : NONE),
      field('Duration', duration),
      field('Severity', TO_FILL),
      field('Impact', TO_FILL),
      '',
    ].join('\n'),
    section('Summary', summary),
    section(
      'Timeline',
      entries.length > 0 ? bullets(entries.map((e) => `${iso(e.at)} — ${e.actor} (${e.source}): ${e.reason} — ${e.message}`)) : 'no events recorded',
    ),
    section('Metrics at the abort', metrics),
    section('Who did what', bullets([...acts].map(([actor, what]) => `${actor}: ${what.join('; ')}`))),
    section('Root cause', TO_FILL),
    section('Lessons learned', '1. '),
    section('Action items', '- [ ] '),
  ]);
}
