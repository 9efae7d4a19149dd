/** Commands that act on one rollout: promote, abort, retry, pause, resume, undo, restart, set, delete. */
import { boolFlag, listFlag, positionals, positiveIntFlag, stringFlag, UsageError, type Command } from './command.js';
import { renderApplyResult } from './render.js';
import { parseDuration } from '../spec/duration.js';
import type { ApiClient } from '../api/client.js';

/** `flag/NAME` names a feature flag's ramp (the flag verbs of /v1/flags); `rollout/NAME` or NAME a rollout. */
function flagTarget(name: string): string | undefined {
  return name.startsWith('flag/') ? name.slice('flag/'.length) : undefined;
}
const rolloutName = (name: string) => (name.startsWith('rollout/') ? name.slice('rollout/'.length) : name);

type FlagVerb = 'promote' | 'abort' | 'pause' | 'resume' | 'retry';

/** A command taking only NAME and printing `rollout/NAME <done>`; with `flagVerb`, `flag/NAME` acts on a flag ramp. */
function simpleAction(
  name: string,
  summary: string,
  done: string,
  act: (client: ApiClient, rollout: string) => Promise<void>,
  details?: string,
  flagVerb?: FlagVerb,
): Command {
  return {
    name,
    summary,
    usage: 'NAME',
    details: flagVerb ? `${details ? `${details}\n` : ''}flag/NAME: the same on a feature flag's ramp (kind: FeatureFlag with rollout.steps).` : details,
    async run(ctx) {
      const [target] = positionals(ctx, ['NAME']);
      const flag = flagVerb ? flagTarget(target!) : undefined;
      if (flag !== undefined) {
        if (!flag) throw new UsageError(`flag/ needs the flag's name: \`sluice ${name} flag/NAME\``);
        await ctx.client().flagRamp(flagVerb!, flag);
        ctx.out(`flag/${flag} ${done}`);
        return 0;
      }
      const rollout = flagVerb ? rolloutName(target!) : target!;
      await act(ctx.client(), rollout);
      ctx.out(`rollout/${rollout} ${done}`);
      return 0;
    },
  };
}

export const promoteCommand: Command = {
  name: 'promote',
  summary: 'end the current pause and go on to the next step (or, with --full, straight to the end)',
  usage: 'NAME [--full] [--variant X]',
  details: "flag/NAME: promote a feature flag's ramp to its next step (--full: to its last).",
  flags: [
    ['--full', 'skip all remaining steps, pauses and analysis: make the new revision stable now'],
    ['--variant X', 'end an A/B test: variant X wins (the control keeps the stable revision; the other is promoted)'],
  ],
  options: { full: { type: 'boolean' }, variant: { type: 'string' } },
  async run(ctx) {
    const [target] = positionals(ctx, ['NAME']);
    const full = boolFlag(ctx, 'full');
    const variant = stringFlag(ctx, 'variant');
    const flag = flagTarget(target!);
    if (flag !== undefined) {
      if (!flag) throw new UsageError("flag/ needs the flag's name: `sluice promote flag/NAME`");
      if (variant !== undefined) throw new UsageError('--variant is for A/B tests; a flag ramp has steps — `sluice promote flag/NAME [--full]`');
      await ctx.client().flagRamp('promote', flag, { full });
      ctx.out(`flag/${flag} promoted${full ? ' (full)' : ''}`);
      return 0;
    }
    const rollout = rolloutName(target!);
    await ctx.client().promote(rollout!, { full, ...(variant !== undefined ? { variant } : {}) });
    ctx.out(`rollout/${rollout} promoted${full ? ' (full)' : ''}${variant !== undefined ? ` (variant ${variant} wins)` : ''}`);
    return 0;
  },
};

export const stopTrafficCommand = simpleAction(
  'stop-traffic',
  'maintenance: answer every request with the maintenance page (503 + Retry-After) until resume-traffic',
  'traffic stopped',
  (c, n) => c.stopTraffic(n),
  'The answer is traffic.maintenance (status, body, retryAfter) from the spec. Instances keep running.',
);

export const pauseTrafficCommand: Command = {
  name: 'pause-traffic',
  summary: 'hold new requests (each up to --timeout, then the maintenance page) until resume-traffic',
  usage: 'NAME [--timeout 30s]',
  flags: [['--timeout D', 'longest a request waits before it gets the maintenance answer (default 30s, at most 1h)']],
  options: { timeout: { type: 'string' } },
  async run(ctx) {
    const [rollout] = positionals(ctx, ['NAME']);
    const raw = stringFlag(ctx, 'timeout');
    let timeoutSeconds: number | undefined;
    if (raw !== undefined) {
      try {
        timeoutSeconds = parseDuration(raw);
      } catch (e) {
        throw new UsageError(`--timeout ${raw}: ${(e as Error).message}`);
      }
    }
    await ctx.client().pauseTraffic(rollout!, timeoutSeconds !== undefined ? { timeoutSeconds } : {});
    ctx.out(`rollout/${rollout} traffic paused`);
    return 0;
  },
};

export const resumeTrafficCommand = simpleAction(
  'resume-traffic',
  'serve traffic again after stop-traffic or pause-traffic (held requests proceed)',
  'traffic resumed',
  (c, n) => c.resumeTraffic(n),
);

export const approveCommand = simpleAction(
  'approve',
  'pass the approval gates the rollout waits on (your name and the time are recorded)',
  'approved',
  async (c, n) => {
    await c.approve(n);
  },
);

export const abortCommand = simpleAction(
  'abort',
  'stop the release and send all traffic back to the stable revision',
  'aborted',
  (c, n) => c.abort(n),
  'The rollout becomes Degraded until `sluice retry`, a new apply or `sluice undo`.',
  'abort',
);
export const retryCommand = simpleAction('retry', 'start an aborted release again from its first step', 'retrying', (c, n) => c.retry(n), undefined, 'retry');
export const pauseCommand = simpleAction('pause', 'pause the release where it is (until `sluice resume`)', 'paused', (c, n) => c.pause(n), undefined, 'pause');
export const resumeCommand = simpleAction('resume', 'lift a manual pause', 'resumed', (c, n) => c.resume(n), undefined, 'resume');
export const restartCommand = simpleAction('restart', 'replace every instance of the rollout, a few at a time', 'restarting', (c, n) => c.restart(n));
export const deleteCommand = simpleAction('delete', 'delete a rollout: stop its instances and remove its routes and history', 'deleted', (c, n) => c.delete(n));

export const undoCommand: Command = {
  name: 'undo',
  summary: 'roll back to the previous revision (or to --to-revision N) as a new revision',
  usage: 'NAME [--to-revision N]',
  flags: [['--to-revision N', 'the revision to go back to (default: the one before the current)']],
  options: { 'to-revision': { type: 'string' } },
  async run(ctx) {
    const [rollout] = positionals(ctx, ['NAME']);
    const result = await ctx.client().undo(rollout!, { toRevision: positiveIntFlag(ctx, 'to-revision') });
    ctx.out(renderApplyResult(result));
    return 0;
  },
};

export const setCommand: Command = {
  name: 'set',
  summary: "change a rollout's version and/or environment without editing its file (makes a new revision)",
  usage: 'NAME [--version V] [--env K=V ...] [--unset-env K ...]',
  flags: [
    ['--version V', 'the template version to release'],
    ['--env K=V', 'set an environment variable (repeatable)'],
    ['--unset-env K', 'remove an environment variable (repeatable)'],
  ],
  options: {
    version: { type: 'string' },
    env: { type: 'string', multiple: true },
    'unset-env': { type: 'string', multiple: true },
  },
  async run(ctx) {
    const [rollout] = positionals(ctx, ['NAME']);
    const version = stringFlag(ctx, 'version');
    const env: Record<string, string | null> = {};
    for (const pair of listFlag(ctx, 'env')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new UsageError(`--env takes KEY=VALUE, got "${pair}"`);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    for (const key of listFlag(ctx, 'unset-env')) {
      if (!key || key.includes('=')) throw new UsageError(`--unset-env takes a variable name, got "${key}"`);
      if (key in env) throw new UsageError(`${key} is both set with --env and removed with --unset-env`);
      env[key] = null;
    }
    const hasEnv = Object.keys(env).length > 0;
    if (version === undefined && !hasEnv) throw new UsageError('nothing to set: give --version, --env or --unset-env');
    const result = await ctx.client().set(rollout!, { version, env: hasEnv ? env : undefined });
    ctx.out(renderApplyResult(result));
    return 0;
  },
};
