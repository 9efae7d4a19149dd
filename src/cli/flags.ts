/** `sluice flags …`: feature flags (list, get, history, kill switch, percentage, stale, client tokens). */
import { listFlag, printStructured, stringFlag, UsageError, type Command, type Context } from './command.js';
import { renderFlagHistory, renderFlagList, renderFlagView, renderPushStatus, renderStale } from './render-flags.js';
import { DEFAULT_CLIENT_TOKEN, readClientTokens } from '../api/flag-tokens.js';
import { DEFAULT_STALE_DAYS } from '../engine/flags/stale.js';
import { UserError } from '../util/errors.js';

const ACTIONS = ['list', 'get', 'history', 'kill', 'restore', 'set', 'stale', 'token'] as const;

function nameArg(ctx: Context, action: string): string {
  const name = ctx.positionals[1];
  if (!name) throw new UsageError(`sluice flags ${action} needs the flag's NAME`);
  if (ctx.positionals.length > 2) throw new UsageError(`sluice flags ${action} takes one NAME, got ${ctx.positionals.slice(1).join(' ')}`);
  return name;
}

function noMoreArgs(ctx: Context, action: string, count = 1): void {
  if (ctx.positionals.length > count) throw new UsageError(`unexpected argument "${ctx.positionals[count]}" for \`sluice flags ${action}\``);
}

function intFlag(ctx: Context, name: string, min: number, max: number): number | undefined {
  const raw = stringFlag(ctx, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} ${raw}: must be a number from ${min} to ${max}`);
  return n;
}

function pushNote(ctx: Context, push: { error?: string; pending: boolean; generation: number; servedGeneration: number; failingSince?: number }): void {
  const line = renderPushStatus(push, Date.now());
  if (line) ctx.out(line);
}

export const flagsCommand: Command = {
  name: 'flags',
  summary: 'feature flags: list, get, history, kill, restore, set --percentage, stale, token',
  usage:
    'list | get NAME | history NAME | kill NAME [--reason R] | restore NAME [--reason R] | set NAME --percentage N | stale [--days N] | token [create NAME [--flag F ...]] [-o json|yaml]',
  flags: [
    ['--reason R', 'why (kill, restore, set): recorded in the event with your name'],
    ['--percentage N', "set: the share of the flag's `enable` users (0 to 100) who get it"],
    ['--days N', `stale: fully on or off for at least N days (default ${DEFAULT_STALE_DAYS})`],
    ['--flag F', 'token create: the token reads only these flags (repeatable; default all)'],
    ['-o, --output json|yaml', 'print the raw data (list, get, history, stale, token)'],
  ],
  details:
    "kill serves the flag's off variant to every client at once (the data plane is told before the\n" +
    'command returns); restore serves it as specified again. Every change is an event in the log\n' +
    '(`sluice flags history NAME`). token prints the default read-only client token for OpenFeature\n' +
    'clients (OFREP, `Authorization: Bearer <token>`); it cannot change anything.',
  options: {
    reason: { type: 'string' },
    percentage: { type: 'string' },
    days: { type: 'string' },
    flag: { type: 'string', multiple: true },
  },
  output: true,
  async run(ctx) {
    const action = ctx.positionals[0] ?? 'list';
    const client = () => ctx.client();
    const now = Date.now();
    switch (action) {
      case 'list': {
        noMoreArgs(ctx, action);
        const list = await client().listFlags();
        if (!printStructured(ctx, list)) ctx.out(renderFlagList(list, now));
        return 0;
      }
      case 'get': {
        const view = await client().getFlag(nameArg(ctx, action));
        if (!printStructured(ctx, view)) ctx.out(renderFlagView(view, now));
        return 0;
      }
      case 'history': {
        const events = await client().flagHistory(nameArg(ctx, action));
        if (!printStructured(ctx, events)) ctx.out(renderFlagHistory(events));
        return 0;
      }
      case 'kill': {
        const name = nameArg(ctx, action);
        const push = await client().killFlag(name, stringFlag(ctx, 'reason'));
        ctx.out(`flag/${name} killed: every client gets its off variant`);
        pushNote(ctx, push);
        return 0;
      }
      case 'restore': {
        const name = nameArg(ctx, action);
        const push = await client().restoreFlag(name, stringFlag(ctx, 'reason'));
        ctx.out(`flag/${name} restored`);
        pushNote(ctx, push);
        return 0;
      }
      case 'set': {
        const name = nameArg(ctx, action);
        const percentage = intFlag(ctx, 'percentage', 0, 100);
        if (percentage === undefined) throw new UsageError('sluice flags set needs --percentage N (0 to 100)');
        const push = await client().setFlagPercentage(name, percentage);
        ctx.out(`flag/${name} at ${percentage}%`);
        pushNote(ctx, push);
        return 0;
      }
      case 'stale': {
        noMoreArgs(ctx, action);
        const days = intFlag(ctx, 'days', 1, 100_000);
        const stale = await client().staleFlags(days);
        if (!printStructured(ctx, stale)) ctx.out(renderStale(stale, days ?? DEFAULT_STALE_DAYS));
        return 0;
      }
      case 'token': {
        if (ctx.positionals[1] === 'create') {
          const name = ctx.positionals[2];
          if (!name) throw new UsageError('sluice flags token create needs a NAME for the token');
          noMoreArgs(ctx, 'token create', 3);
          const flags = listFlag(ctx, 'flag');
          const made = await client().createClientToken(name, flags.length > 0 ? flags : undefined);
          if (!printStructured(ctx, made)) ctx.out(made.token);
          return 0;
        }
        noMoreArgs(ctx, action);
        const t = readClientTokens(ctx.stateDir).find((x) => x.name === DEFAULT_CLIENT_TOKEN);
        if (!t) throw new UserError(`no client token in ${ctx.stateDir} yet — \`sluice up\` makes the default one at its first start`, 'no-token');
        if (!printStructured(ctx, { name: t.name, token: t.token })) ctx.out(t.token);
        return 0;
      }
      default:
        throw new UsageError(`unknown flags action "${action}" — one of ${ACTIONS.join(', ')}`);
    }
  },
};
