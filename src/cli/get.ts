/** Read commands: get, status, history, events. */
import type { RolloutView } from '../core/rollout.js';
import { renderAnalysis } from './render.js';
import { boolFlag, durationFlag, positionals, printStructured, sleep, stringFlag, UsageError, type Command, type Context } from './command.js';
import { getReleaseKind } from './release.js';
import { formatAge, renderEventLine, renderHistory, renderRolloutList, renderRolloutView, statusLine, viewFingerprint } from './render.js';

const WATCH_INTERVAL_MS = 1000;
const CLEAR_SCREEN = '\x1b[H\x1b[2J';

/**
 * Redraws every second. On a terminal the screen is cleared each time; otherwise (a pipe,
 * a CI log) a view is printed only when it changed, views separated by a blank line.
 */
async function watch(ctx: Context, fetch: () => Promise<{ text: string; value: unknown; fingerprint: string }>): Promise<never> {
  const tty = process.stdout.isTTY === true && !ctx.output;
  let last: string | undefined;
  for (;;) {
    const { text, value, fingerprint } = await fetch();
    if (tty) process.stdout.write(CLEAR_SCREEN + text + '\n');
    else if (fingerprint !== last) {
      if (last !== undefined) ctx.out('');
      if (!printStructured(ctx, value)) ctx.out(text);
    }
    last = fingerprint;
    await sleep(WATCH_INTERVAL_MS);
  }
}

const ROLLOUT_KINDS = new Set(['rollout', 'rollouts', 'ro']);

export const getCommand: Command = {
  name: 'get',
  summary: 'list rollouts, or show one rollout in detail',
  usage: 'rollouts [--env ENV] | rollout NAME [--watch] | analysis NAME | releases | release R | approvals [R] | environments | pipelines [-o json|yaml]',
  flags: [
    ['-w, --watch', 'redraw every second until Ctrl-C'],
    ['--env ENV', 'rollouts: only those of that environment'],
    ['-o, --output json|yaml', 'print the raw data instead of the view'],
  ],
  details:
    '`get rollouts` prints a table: NAME STRATEGY PHASE STEP WEIGHT STABLE CURRENT AGE, where WEIGHT is the\n' +
    "share of traffic on the revision being released (the canary's weight). `get rollout NAME` shows\n" +
    'phase, revisions, traffic weights as bars, instances, analysis and the last events. `get analysis NAME`\n' +
    "lists the rollout's analysis runs, hooks and smoke tests with each metric's recent values and conditions.",
  options: { watch: { type: 'boolean', short: 'w' }, env: { type: 'string' } },
  output: true,
  async run(ctx) {
    const [kind, name, extra] = ctx.positionals;
    if (kind === 'analysis' || kind === 'analyses') {
      if (!name) throw new UsageError('missing rollout name: sluice get analysis NAME');
      const runs = await ctx.client().analysis(name);
      if (!printStructured(ctx, runs)) ctx.out(renderAnalysis(runs, Date.now()));
      return 0;
    }
    if (kind !== undefined && extra === undefined && (await getReleaseKind(ctx, kind, name))) return 0;
    if (!kind || !ROLLOUT_KINDS.has(kind))
      throw new UsageError(
        kind
          ? `unknown resource "${kind}" — sluice has rollouts, analysis, releases, approvals, environments and pipelines`
          : 'missing what to get: rollouts, rollout NAME, releases, approvals, environments or pipelines',
      );
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    const client = ctx.client();
    if (name === undefined) {
      const env = stringFlag(ctx, 'env');
      const fetchList = async () => {
        const views = (await client.list()).filter((v) => env === undefined || v.spec.environment === env);
        return { value: views, text: renderRolloutList(views, Date.now()), fingerprint: views.map(viewFingerprint).join('\n') };
      };
      if (boolFlag(ctx, 'watch')) return watch(ctx, fetchList);
      const { value, text } = await fetchList();
      if (!printStructured(ctx, value)) ctx.out(text);
      return 0;
    }
    const fetchOne = async () => {
      const view = await client.get(name);
      return { value: view, text: renderRolloutView(view, Date.now()), fingerprint: viewFingerprint(view) };
    };
    if (boolFlag(ctx, 'watch')) return watch(ctx, fetchOne);
    const { value, text } = await fetchOne();
    if (!printStructured(ctx, value)) ctx.out(text);
    return 0;
  },
};

/** Exit codes of `sluice status`. */
export const STATUS_EXIT = { healthy: 0, degraded: 1, inProgress: 2, timeout: 3 } as const;

function exitCodeFor(view: RolloutView): number {
  if (view.status.phase === 'Healthy') return STATUS_EXIT.healthy;
  if (view.status.phase === 'Degraded') return STATUS_EXIT.degraded;
  return STATUS_EXIT.inProgress;
}

export const statusCommand: Command = {
  name: 'status',
  summary: "print a rollout's phase; exit code says Healthy / Degraded / in progress",
  usage: 'NAME [--watch] [--timeout 5m] [-o json|yaml]',
  flags: [
    ['-w, --watch', 'wait until the rollout is Healthy or Degraded, printing each change'],
    ['--timeout DURATION', 'with --watch: give up after this long (30s, 5m, 1h); default: wait forever'],
    ['-o, --output json|yaml', 'print the status object'],
  ],
  details: 'Exit codes: 0 Healthy, 1 Degraded (or an error), 2 still Progressing or Paused (without --watch),\n' + '3 --timeout reached with --watch.',
  options: { watch: { type: 'boolean', short: 'w' }, timeout: { type: 'string' } },
  output: true,
  async run(ctx) {
    const [name] = positionals(ctx, ['NAME']);
    const timeoutMs = durationFlag(ctx, 'timeout');
    const watching = boolFlag(ctx, 'watch');
    if (timeoutMs !== undefined && !watching) throw new UsageError('--timeout only applies with --watch');
    const client = ctx.client();
    const show = (view: RolloutView) => {
      if (!printStructured(ctx, { name: view.name, ...view.status })) ctx.out(statusLine(view));
    };
    let view = await client.get(name!);
    if (!watching) {
      show(view);
      return exitCodeFor(view);
    }
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const line = statusLine(view);
      if (line !== last) show(view);
      last = line;
      const code = exitCodeFor(view);
      if (code !== STATUS_EXIT.inProgress) return code;
      if (Date.now() >= deadline) {
        process.stderr.write(`error: timed out after ${formatAge(timeoutMs!)} waiting for ${statusLine(view)}\n`);
        return STATUS_EXIT.timeout;
      }
      await sleep(Math.min(WATCH_INTERVAL_MS, Math.max(0, deadline - Date.now())));
      view = await client.get(name!);
    }
  },
};

export const historyCommand: Command = {
  name: 'history',
  summary: "list a rollout's revisions",
  usage: 'NAME [-o json|yaml]',
  flags: [['-o, --output json|yaml', 'print the revisions (with their templates)']],
  details: 'Columns: REVISION VERSION CAUSE CREATED; the current and stable revisions are marked.',
  output: true,
  async run(ctx) {
    const [name] = positionals(ctx, ['NAME']);
    const client = ctx.client();
    const [revisions, view] = await Promise.all([client.history(name!), client.get(name!)]);
    if (!printStructured(ctx, revisions)) ctx.out(renderHistory(revisions, view, Date.now()));
    return 0;
  },
};

const EVENTS_POLL_MS = 1000;

export const eventsCommand: Command = {
  name: 'events',
  summary: "print a rollout's events (each decision the engine took, and who acted)",
  usage: 'NAME [-f] [-o json|yaml]',
  flags: [
    ['-f, --follow', 'keep printing new events until Ctrl-C'],
    ['-o, --output json|yaml', 'print the raw events (with -f: JSON, one per line)'],
  ],
  options: { follow: { type: 'boolean', short: 'f' } },
  output: true,
  async run(ctx) {
    const [name] = positionals(ctx, ['NAME']);
    const client = ctx.client();
    const events = await client.events(name!);
    if (!boolFlag(ctx, 'follow')) {
      if (!printStructured(ctx, events)) ctx.out(events.length ? events.map(renderEventLine).join('\n') : 'No events.');
      return 0;
    }
    if (ctx.output === 'yaml') throw new UsageError('-f prints JSON lines; use -o json or no -o');
    const print = (batch: typeof events) => {
      for (const e of batch) ctx.out(ctx.output === 'json' ? JSON.stringify(e) : renderEventLine(e));
    };
    print(events);
    let afterId = events.reduce((max, e) => Math.max(max, e.id), 0);
    for (;;) {
      await sleep(EVENTS_POLL_MS);
      const batch = await client.events(name!, { afterId });
      print(batch);
      afterId = batch.reduce((max, e) => Math.max(max, e.id), afterId);
    }
  },
};
