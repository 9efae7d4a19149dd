/** `sluice db …`: database migrations (lint locally; status, plan, backups, restore through the API). */
import { createInterface } from 'node:readline';
import type { BackupRecord, DatabaseStatusView } from '../core/database.js';
import { renderProgressBar } from '../migrations/backfill.js';
import { UserError } from '../util/errors.js';
import { printStructured, stringFlag, UsageError, type Command, type Context } from './command.js';
import { dbLint } from './db-lint.js';

const ACTIONS = ['lint', 'status', 'plan', 'backups', 'restore'] as const;

function nameArg(ctx: Context, action: string, extra = 0): string {
  const name = ctx.positionals[1];
  if (!name) throw new UsageError(`sluice db ${action} needs the rollout's NAME`);
  if (ctx.positionals.length > 2 + extra) throw new UsageError(`unexpected argument "${ctx.positionals[2 + extra]}" for \`sluice db ${action}\``);
  return name;
}

const time = (ms: number | undefined) => (ms === undefined ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19));
const size = (bytes: number) => (bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`);

export function renderDatabaseStatus(v: DatabaseStatusView): string {
  const lines = [`rollout/${v.rollout}: ${v.engine} ${v.database}`];
  if (v.error) lines.push(`  cannot read the database: ${v.error}`);
  if (v.migrations.length === 0) lines.push('  no migrations');
  else {
    lines.push('  MIGRATION                          EXPAND               MIGRATE              CONTRACT');
    for (const m of v.migrations) {
      const at = (p: 'expand' | 'migrate' | 'contract') => {
        const ran = m.phases[p];
        return (ran ? `r${ran.revision} ${time(ran.at).slice(5, 16)}` : 'pending').padEnd(20);
      };
      lines.push(`  ${m.id.padEnd(34)} ${at('expand')} ${at('migrate')} ${at('contract')}${m.changed ? '  CHANGED since applied' : ''}`);
    }
  }
  for (const b of v.backfill) lines.push(`  backfill ${b.migration}#${b.statement}: ${renderProgressBar(b, 30)}`);
  if (v.backups.length > 0) lines.push(`  backups: ${v.backups.length}, newest ${v.backups.at(-1)!.id}`);
  return lines.join('\n');
}

export function renderBackups(list: BackupRecord[]): string {
  if (list.length === 0) return 'no backups';
  const rows = list.map(
    (b) =>
      `${b.id.padEnd(40)} ${b.rollout.padEnd(16)} r${String(b.revision).padEnd(5)} ${b.engine.padEnd(8)} ${size(b.bytes).padStart(10)}  ${time(b.createdAt)}`,
  );
  return [`${'ID'.padEnd(40)} ${'ROLLOUT'.padEnd(16)} ${'REV'.padEnd(6)} ${'ENGINE'.padEnd(8)} ${'SIZE'.padStart(10)}  CREATED`, ...rows].join('\n');
}

async function confirm(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await new Promise<string>((resolve) => {
      rl.question(question, resolve);
      rl.once('close', () => resolve(''));
    });
  } finally {
    rl.close();
  }
}

export const dbCommand: Command = {
  name: 'db',
  summary: 'database migrations: lint, status [--watch], plan (dry run), backups, restore',
  usage:
    'lint [FOLDER] [--engine postgres|sqlite] [--format text|json] [--standalone] | status NAME [--watch] | plan NAME | backups [NAME] | restore NAME BACKUP [--yes]',
  flags: [
    ['--engine postgres|sqlite', 'lint: the dialect of the files (default postgres)'],
    ['--format text|json', 'lint: one line per finding (file:line:col rule — fix), or the whole report as JSON'],
    ['--standalone', 'lint: the files are run by another tool, not sluice (then they must set lock_timeout themselves)'],
    ['--watch', 'status: redraw every second until the backfill is done'],
    ['--yes', 'restore: do not ask for confirmation'],
    ['-o, --output json|yaml', 'status, backups: print the raw data'],
  ],
  details:
    'lint needs no running sluice; its exit code is 1 when a finding is an error.\n' +
    'restore refuses while the rollout serves traffic (`sluice stop-traffic NAME` first), prints\n' +
    'what it will do and asks you to type the backup id.',
  options: {
    engine: { type: 'string' },
    format: { type: 'string' },
    standalone: { type: 'boolean' },
    watch: { type: 'boolean' },
    yes: { type: 'boolean' },
  },
  output: true,
  async run(ctx) {
    const action = ctx.positionals[0];
    if (!action || !(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`sluice db needs one of ${ACTIONS.join(', ')}`);
    switch (action) {
      case 'lint': {
        if (ctx.positionals.length > 2) throw new UsageError(`sluice db lint takes one FOLDER, got ${ctx.positionals.slice(1).join(' ')}`);
        const argv = [...ctx.positionals.slice(1)];
        const engine = stringFlag(ctx, 'engine');
        const format = stringFlag(ctx, 'format');
        if (engine !== undefined) argv.push('--engine', engine);
        if (format !== undefined) argv.push('--format', format);
        if (ctx.values.standalone === true) argv.push('--standalone');
        return dbLint(argv, (s) => ctx.out(s));
      }
      case 'status': {
        const name = nameArg(ctx, action);
        if (ctx.values.watch !== true) {
          const v = await ctx.client().databaseStatus(name);
          if (!printStructured(ctx, v)) ctx.out(renderDatabaseStatus(v));
          return 0;
        }
        for (;;) {
          const v = await ctx.client().databaseStatus(name);
          const text = renderDatabaseStatus(v);
          if (process.stdout.isTTY) process.stdout.write(`\x1b[H\x1b[2J${text}\n`);
          else ctx.out(text);
          const migrating = v.migrations.some((m) => m.phases.expand && !m.phases.migrate) || v.backfill.some((b) => !b.done);
          if (!migrating && v.migrations.every((m) => m.phases.migrate)) return 0;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
      case 'plan': {
        const name = nameArg(ctx, action);
        const plan = await ctx.client().databasePlan(name);
        if (!printStructured(ctx, { plan })) ctx.out(plan.length > 0 ? plan.join('\n') : `rollout/${name}: nothing to do — every migration ran its phases`);
        return 0;
      }
      case 'backups': {
        if (ctx.positionals.length > 2) throw new UsageError(`sluice db backups takes at most one NAME, got ${ctx.positionals.slice(1).join(' ')}`);
        const list = await ctx.client().backups(ctx.positionals[1]);
        if (!printStructured(ctx, { backups: list })) ctx.out(renderBackups(list));
        return 0;
      }
      case 'restore': {
        const name = nameArg(ctx, action, 1);
        const id = ctx.positionals[2];
        if (!id) throw new UsageError('sluice db restore needs NAME and the BACKUP id (`sluice db backups NAME` lists them)');
        const backup = (await ctx.client().backups(name)).find((b) => b.id === id);
        if (!backup) throw new UserError(`rollout ${name} has no backup ${id} — \`sluice db backups ${name}\` lists them`, 'not-found');
        ctx.out(
          `restore ${backup.id} (revision ${backup.revision}, ${time(backup.createdAt)}, ${size(backup.bytes)}) into rollout/${name}'s ${backup.engine} database:\n` +
            '  every table the backup holds is dropped and re-created as it was then; writes made since are lost.',
        );
        if (ctx.values.yes !== true) {
          const answer = (await confirm(`type the backup id to go on: `)).trim();
          if (answer !== backup.id) {
            ctx.out('not restored');
            return 1;
          }
        }
        const done = await ctx.client().restoreBackup(name, backup.id);
        ctx.out(`rollout/${name}: restored ${done.id}`);
        return 0;
      }
    }
    return 2;
  },
};
