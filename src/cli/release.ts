/**
 * Releases through environments (issue 15): `sluice release …`, `sluice approve|reject
 * RELEASE --stage S`, `sluice kpis`, and the release kinds of `get` and `history --env`.
 */
import { readFileSync } from 'node:fs';
import type { ReleaseView } from '../engine/pipelines/releases.js';
import type { ApprovalRow } from '../engine/pipelines/documents.js';
import { renderDeploymentLog } from '../pipelines/reports.js';
import { renderDora } from '../pipelines/dora.js';
import { UserError } from '../util/errors.js';
import { type Command, type Context, listFlag, printStructured, stringFlag, UsageError } from './command.js';
import { formatAge, renderTable } from './render.js';

const stageFlag = (ctx: Context, what: string): string => {
  const stage = stringFlag(ctx, 'stage');
  if (!stage) throw new UsageError(`${what} needs --stage STAGE (e.g. --stage production)`);
  return stage;
};

const releaseArg = (ctx: Context, what: string, at = 1): string => {
  const id = ctx.positionals[at];
  if (!id) throw new UsageError(`${what} needs a RELEASE (its version, e.g. v1.2.3) — see \`sluice release list\``);
  if (ctx.positionals[at + 1] !== undefined) throw new UsageError(`unexpected argument "${ctx.positionals[at + 1]}"`);
  return id;
};

/** `--service api=v1.2.4` (repeatable): another version for one service of the release. */
function serviceOverrides(ctx: Context): { service: string; version: string }[] {
  return listFlag(ctx, 'service').map((raw) => {
    const m = /^([^=\s]+)=(\S+)$/.exec(raw);
    if (!m) throw new UsageError(`--service must read SERVICE=VERSION, e.g. --service worker=v1.2.4, got "${raw}"`);
    return { service: m[1]!, version: m[2]! };
  });
}

/** `--config KEY=VALUE` (repeatable): an environment variable every service gets with the release. */
function configFlags(ctx: Context): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of listFlag(ctx, 'config')) {
    const at = raw.indexOf('=');
    if (at < 1) throw new UsageError(`--config must read KEY=VALUE, e.g. --config LOG_LEVEL=info, got "${raw}"`);
    env[raw.slice(0, at)] = raw.slice(at + 1);
  }
  return env;
}

function commitTime(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const t = Date.parse(raw);
  if (!Number.isFinite(t)) throw new UsageError(`--commit-time must be a date and time, e.g. 2026-12-01T10:00:00Z (git log -1 --format=%cI), got "${raw}"`);
  return t;
}

function readNotes(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`cannot read --notes ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} — give a readable file of release notes`);
  }
}

export function renderReleaseList(views: ReleaseView[], now: number): string {
  if (views.length === 0) return 'no releases — make one with `sluice release create --version V --commit SHA`';
  const rows = [...views]
    .reverse()
    .map((v) => [
      v.release.id,
      v.release.pipeline,
      v.release.commit.slice(0, 12),
      v.stages.map((s) => `${s.stage}:${s.phase === 'Waiting' ? s.reason : s.phase}`).join(' '),
      v.release.createdBy,
      formatAge(now - v.release.createdAt),
    ]);
  return renderTable(['RELEASE', 'PIPELINE', 'COMMIT', 'STAGES', 'BY', 'AGE'], rows);
}

export function renderReleaseView(v: ReleaseView, now: number): string {
  const r = v.release;
  const lines = [
    `release ${r.id} (pipeline ${r.pipeline}) — commit ${r.commit}, by ${r.createdBy} ${formatAge(now - r.createdAt)} ago${r.hotfixOf ? `, hotfix of ${r.hotfixOf}` : ''}`,
    `services: ${r.services.map((s) => `${s.service}@${s.version}`).join(', ')}`,
    '',
  ];
  lines.push(
    renderTable(
      ['STAGE', 'ENVIRONMENT', 'PHASE', 'REASON', 'MESSAGE'],
      v.stages.map((s) => {
        const spec = v.pipeline.stages.find((x) => x.name === s.stage);
        return [s.stage, spec?.environment ?? '?', s.phase, s.reason, s.message + (s.until !== undefined ? ` (until ${new Date(s.until).toISOString()})` : '')];
      }),
    ),
  );
  const approvals = v.approvals.filter((a) => a.withdrawnAt === undefined);
  if (approvals.length > 0) {
    lines.push('', 'approvals:');
    for (const a of approvals)
      lines.push(
        `  ${a.stage}: ${a.decision === 'approve' ? '✓' : '✗'} ${a.user} as ${a.role} ${new Date(a.at).toISOString()}${a.comment ? ` — ${a.comment}` : ''}`,
      );
  }
  if (v.events.length > 0) {
    lines.push('', 'events:');
    for (const e of v.events.slice(-10)) lines.push(`  ${new Date(e.at).toISOString()} ${e.stage ?? '-'} ${e.reason}: ${e.message} (${e.actor})`);
  }
  return lines.join('\n');
}

export function renderApprovals(rows: ApprovalRow[]): string {
  if (rows.length === 0) return 'no approvals asked';
  return renderTable(
    ['RELEASE', 'STAGE', 'ROLE', 'NEEDED', 'APPROVED BY', 'REJECTED BY', 'STATE'],
    rows.map((r) => [
      r.release,
      r.stage,
      r.role,
      r.blocking ? String(r.count) : `${r.count} (optional)`,
      r.approvedBy.join(', ') || '—',
      r.rejectedBy.join(', ') || '—',
      !r.pending ? 'past the gate' : r.rejectedBy.length > 0 ? 'rejected' : r.approvedBy.length >= r.count ? 'done' : 'waiting',
    ]),
  );
}

export const releaseCommand: Command = {
  name: 'release',
  summary: 'releases through environments: create, list, get, promote, check, request, report, postmortem',
  usage:
    'create --version V --commit SHA [--config K=V…] [--notes FILE] [--commit-time T] [--pipeline P] [--service S=V…] [--hotfix-of R] | list [--pipeline P] | get R | promote R --stage S | check R --stage S --item NAME | request|report|postmortem R --stage S | approve|reject R --stage S [--comment C] [--role ROLE] | withdraw R --stage S [-o json|yaml]',
  flags: [
    ['--version V', 'create: the version every service of the pipeline gets (the release id)'],
    ['--commit SHA', 'create: the commit it is built from'],
    ['--commit-time T', 'create: when that commit was made (lead time counts from it; default: now)'],
    ['--notes FILE', 'create: release notes (the deployment request shows them)'],
    ['--pipeline P', 'create, list: the pipeline (default: the only one)'],
    ['--service S=V', 'create: another version for service S (repeatable)'],
    ['--hotfix-of R', 'create: this release fixes R (R counts as a failed change)'],
    ['--config KEY=VALUE', 'create: an environment variable every service gets with the release (repeatable)'],
    ['--stage S', 'the stage (promote, check, request, report, postmortem, approve, reject, withdraw)'],
    ['--item NAME', 'check: the checklist item a person confirms'],
    ['--comment C', 'approve, reject: recorded with your decision'],
    ['--role ROLE', 'approve, reject: which of your approver roles (when you hold several)'],
    ['-o, --output json|yaml', 'print the raw data'],
  ],
  details:
    'A release moves through the stages of its Pipeline by itself as far as the gates allow: the\n' +
    'previous stage Healthy for its soak, the approvals by role, the checklist, the deployment\n' +
    'windows and freezes. `sluice get release R` says what each stage waits for, and until when.',
  options: {
    version: { type: 'string' },
    commit: { type: 'string' },
    'commit-time': { type: 'string' },
    notes: { type: 'string' },
    pipeline: { type: 'string' },
    service: { type: 'string', multiple: true },
    config: { type: 'string', multiple: true },
    'hotfix-of': { type: 'string' },
    stage: { type: 'string' },
    item: { type: 'string' },
    comment: { type: 'string' },
    role: { type: 'string' },
  },
  output: true,
  async run(ctx) {
    const action = ctx.positionals[0] ?? 'list';
    const client = () => ctx.client();
    const now = Date.now();
    switch (action) {
      case 'create': {
        if (ctx.positionals.length > 1) throw new UsageError(`unexpected argument "${ctx.positionals[1]}" — the version goes in --version`);
        const version = stringFlag(ctx, 'version');
        const commit = stringFlag(ctx, 'commit');
        if (!version || !commit) throw new UsageError('sluice release create needs --version V and --commit SHA');
        const notes = readNotes(stringFlag(ctx, 'notes'));
        const commitAt = commitTime(stringFlag(ctx, 'commit-time'));
        const pipeline = stringFlag(ctx, 'pipeline');
        const hotfixOf = stringFlag(ctx, 'hotfix-of');
        const services = serviceOverrides(ctx);
        const env = configFlags(ctx);
        const view = await client().createRelease({
          version,
          commit,
          ...(notes !== undefined ? { notes } : {}),
          ...(commitAt !== undefined ? { commitAt } : {}),
          ...(pipeline ? { pipeline } : {}),
          ...(hotfixOf ? { hotfixOf } : {}),
          ...(services.length > 0 ? { services } : {}),
          ...(Object.keys(env).length > 0 ? { env } : {}),
        });
        if (!printStructured(ctx, view))
          ctx.out(`release ${view.release.id} created (pipeline ${view.release.pipeline}): ${view.stages.map((s) => `${s.stage} ${s.phase}`).join(', ')}`);
        return 0;
      }
      case 'list': {
        if (ctx.positionals.length > 1) throw new UsageError(`unexpected argument "${ctx.positionals[1]}"`);
        const views = await client().releases(stringFlag(ctx, 'pipeline'));
        if (!printStructured(ctx, views)) ctx.out(renderReleaseList(views, now));
        return 0;
      }
      case 'get': {
        const view = await client().release(releaseArg(ctx, 'sluice release get'));
        if (!printStructured(ctx, view)) ctx.out(renderReleaseView(view, now));
        return 0;
      }
      case 'promote': {
        const id = releaseArg(ctx, 'sluice release promote');
        const state = await client().promoteRelease(id, stageFlag(ctx, 'sluice release promote'));
        if (!printStructured(ctx, state)) ctx.out(`release ${id}: asked to enter ${state.stage} (${state.phase}: ${state.message})`);
        return 0;
      }
      case 'check': {
        const id = releaseArg(ctx, 'sluice release check');
        const item = stringFlag(ctx, 'item');
        if (!item) throw new UsageError('sluice release check needs --item NAME (the checklist item you confirm)');
        const state = await client().checkRelease(id, stageFlag(ctx, 'sluice release check'), item);
        if (!printStructured(ctx, state)) ctx.out(`release ${id}: "${item}" checked for ${state.stage}`);
        return 0;
      }
      case 'request':
      case 'report':
      case 'postmortem': {
        const id = releaseArg(ctx, `sluice release ${action}`);
        const markdown = await client().releaseDocument(id, action, stageFlag(ctx, `sluice release ${action}`));
        if (!printStructured(ctx, { markdown })) ctx.out(markdown);
        return 0;
      }
      case 'approve':
      case 'reject':
        return decide(ctx, action, 1);
      case 'withdraw': {
        const id = releaseArg(ctx, 'sluice release withdraw');
        const n = await client().withdrawRelease(id, stageFlag(ctx, 'sluice release withdraw'));
        ctx.out(`release ${id}: ${n} decision(s) withdrawn`);
        return 0;
      }
      default:
        throw new UsageError(
          `unknown release action "${action}" — use create, list, get, promote, check, request, report, postmortem, approve, reject or withdraw`,
        );
    }
  },
};

async function decide(ctx: Context, decision: 'approve' | 'reject', at: number): Promise<number> {
  const id = releaseArg(ctx, `sluice ${decision}`, at);
  const comment = stringFlag(ctx, 'comment');
  const role = stringFlag(ctx, 'role');
  const record = await ctx.client().decideRelease(id, decision, {
    stage: stageFlag(ctx, `sluice ${decision} RELEASE`),
    ...(comment !== undefined ? { comment } : {}),
    ...(role !== undefined ? { role } : {}),
  });
  if (!printStructured(ctx, record))
    ctx.out(`release ${id}: ${decision === 'approve' ? 'approved' : 'rejected'} for ${record.stage} by ${record.user} as ${record.role}`);
  return 0;
}

const DECISION_FLAGS: [string, string][] = [
  ['--stage S', 'the stage whose entry you decide'],
  ['--comment C', 'recorded with your decision'],
  ['--role ROLE', 'which of your approver roles (when you hold several)'],
];

/** `sluice approve`: a rollout's approval gate (NAME), or with --stage a release's entry into a stage. */
export function withReleaseApproval(approve: Command): Command {
  return {
    ...approve,
    summary: `${approve.summary}; with --stage, approve a release's entry into that stage`,
    usage: `${approve.usage} | RELEASE --stage S [--comment C] [--role ROLE]`,
    flags: [...(approve.flags ?? []), ...DECISION_FLAGS],
    options: { ...approve.options, stage: { type: 'string' }, comment: { type: 'string' }, role: { type: 'string' } },
    output: true,
    run: (ctx) => (stringFlag(ctx, 'stage') !== undefined ? decide(ctx, 'approve', 0) : approve.run(ctx)),
  };
}

export const rejectCommand: Command = {
  name: 'reject',
  summary: "reject a release's entry into a stage (it waits there until the rejection is withdrawn)",
  usage: 'RELEASE --stage S [--comment C] [--role ROLE]',
  flags: DECISION_FLAGS,
  options: { stage: { type: 'string' }, comment: { type: 'string' }, role: { type: 'string' } },
  output: true,
  run: (ctx) => decide(ctx, 'reject', 0),
};

export const kpisCommand: Command = {
  name: 'kpis',
  summary: 'DORA metrics from sluice history: deployment frequency, lead time, change failure rate, time to restore',
  usage: '[--env ENV] [--since 30d] [-o json|yaml]',
  flags: [
    ['--env ENV', 'one environment (default: every one)'],
    ['--since D', 'the period, back from now: 30d, 12h, 90m (default 30d)'],
    ['-o, --output json|yaml', 'print the raw report'],
  ],
  details: 'Definitions (matching DORA and Four Keys) in docs/dora.md.',
  options: { env: { type: 'string' }, since: { type: 'string' } },
  output: true,
  async run(ctx) {
    if (ctx.positionals.length > 0) throw new UsageError(`unexpected argument "${ctx.positionals[0]}"`);
    const env = stringFlag(ctx, 'env');
    const since = stringFlag(ctx, 'since');
    const report = await ctx.client().kpis({ ...(env ? { env } : {}), ...(since ? { since } : {}) });
    if (!printStructured(ctx, report)) ctx.out(renderDora(report));
    return 0;
  },
};

/** `sluice history --env ENV`: the deployment log; otherwise a rollout's revisions. */
export function withDeploymentLog(history: Command): Command {
  return {
    ...history,
    summary: `${history.summary}; with --env, the deployment log of an environment`,
    usage: `${history.usage} | --env ENV`,
    flags: [...(history.flags ?? []), ['--env ENV', 'the deployment log: version, date, environment, who, result, incidents']],
    options: { ...history.options, env: { type: 'string' } },
    async run(ctx) {
      const env = stringFlag(ctx, 'env');
      if (env === undefined) return history.run(ctx);
      if (ctx.positionals.length > 0) throw new UsageError(`unexpected argument "${ctx.positionals[0]}" — history --env takes no rollout name`);
      const rows = await ctx.client().deployments(env || undefined);
      if (!printStructured(ctx, rows)) ctx.out(rows.length > 0 ? renderDeploymentLog(rows) : `no deployments in ${env} yet`);
      return 0;
    },
  };
}

/** The release kinds of `sluice get`: releases, release R, approvals, environments, pipelines. */
export async function getReleaseKind(ctx: Context, kind: string, name: string | undefined): Promise<boolean> {
  const client = ctx.client();
  const now = Date.now();
  switch (kind) {
    case 'releases':
    case 'release': {
      if (name !== undefined) {
        const view = await client.release(name);
        if (!printStructured(ctx, view)) ctx.out(renderReleaseView(view, now));
      } else {
        const views = await client.releases();
        if (!printStructured(ctx, views)) ctx.out(renderReleaseList(views, now));
      }
      return true;
    }
    case 'approvals': {
      const rows = await client.approvals(name);
      if (!printStructured(ctx, rows)) ctx.out(renderApprovals(rows));
      return true;
    }
    case 'environments': {
      const list = await client.environments();
      if (!printStructured(ctx, list))
        ctx.out(
          list.length
            ? renderTable(
                ['ENVIRONMENT'],
                list.map((e) => [e.name]),
              )
            : 'no Environment applied',
        );
      return true;
    }
    case 'pipelines': {
      const list = await client.pipelines();
      if (!printStructured(ctx, list))
        ctx.out(
          list.length
            ? renderTable(
                ['PIPELINE', 'SERVICES', 'STAGES'],
                list.map((p) => [p.name, p.spec.services.join(', '), p.spec.stages.map((s) => `${s.name}(${s.environment})`).join(' → ')]),
              )
            : 'no Pipeline applied',
        );
      return true;
    }
    default:
      return false;
  }
}
