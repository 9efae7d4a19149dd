import { join } from 'node:path';
import type {
  AppliedMigration,
  BackfillProgress,
  BackupRecord,
  DatabaseActions,
  DatabaseSpec,
  DatabaseStatusView,
  MigrationCatalog,
  MigrationExecutor,
  MigrationJobSpec,
  MigrationRef,
  PhaseProgress,
  PhaseResult,
} from '../core/database.js';
import { UserError } from '../util/errors.js';
import { readBackfill, runBackfill } from './backfill.js';
import { BackupCatalog } from './backup.js';
import { type DatabaseAdapter, describeRef } from './db/adapter.js';
import { connectionUrl, openDatabase } from './db/index.js';
import { historyExists, markPhase, readApplied } from './history.js';
import { lintMigrations } from './lint/index.js';
import { type LoadedMigration, loadMigrations, MigrationError } from './load.js';
import { withMigrationLock, describeHolder } from './locks.js';
import { applyPhase } from './runner.js';

/**
 * The migrations as the control plane runs them: the catalog read at apply (load + lint →
 * refs), the executor of each phase job (backup, expand, stable-safe backfill, contract
 * under the advisory lock), and the reads and restore the API serves.
 */
export class MigrationService implements MigrationExecutor, MigrationCatalog, DatabaseActions {
  private readonly catalog: BackupCatalog;

  constructor(private readonly opts: { stateDir: string; env?: NodeJS.ProcessEnv }) {
    this.catalog = new BackupCatalog(join(opts.stateDir, 'backups'));
  }

  async prepare(database: DatabaseSpec): Promise<{ refs: MigrationRef[]; warnings: string[] }> {
    const migrations = await this.load(database, (m) => new UserError(m));
    const report = lintMigrations(migrations, { engine: database.engine });
    const line = (f: (typeof report.findings)[number]) => `${f.file}:${f.line}:${f.col} ${f.rule} — ${f.message}; fix: ${f.fix}`;
    const errors = report.findings.filter((f) => f.severity === 'error');
    if (errors.length > 0) {
      const more = errors.length > 1 ? ` (and ${errors.length - 1} more: \`sluice db lint ${database.migrations}\`)` : '';
      throw new UserError(`${line(errors[0]!)}${more}`);
    }
    const refs = migrations.map((m) => ({
      id: m.id,
      checksum: m.checksum,
      ...(m.statements.some((s) => s.phase === 'contract') || database.tool?.contract ? { contract: true as const } : {}),
    }));
    return { refs, warnings: report.findings.filter((f) => f.severity === 'warning').map(line) };
  }

  async run(job: MigrationJobSpec, o: { signal: AbortSignal; progress: (p: PhaseProgress) => void }): Promise<PhaseResult> {
    const { phase, database } = job;
    const say = (message: string, backfill?: BackfillProgress[]) => o.progress({ phase, message, ...(backfill ? { backfill } : {}) });
    let db: DatabaseAdapter;
    let migrations: LoadedMigration[];
    try {
      db = openDatabase(database, this.opts.env);
      migrations = this.pick(await this.load(database, (m) => new Error(m)), job);
    } catch (err) {
      return { ok: false, message: (err as Error).message, applied: [] };
    }
    const settings = {
      lockTimeoutMs: database.lockTimeoutMs,
      statementTimeoutMs: database.statementTimeoutMs,
      lockRetries: database.lockRetries,
      retryBackoffMs: database.retryBackoffMs,
    };
    const tool = database.tool?.[phase];
    try {
      const connectionEnv = tool && database.engine === 'postgres' ? { DATABASE_URL: connectionUrl(database, this.opts.env) } : undefined;
      const common = { ...settings, revision: job.revision, signal: o.signal, progress: (m: string) => say(m), tool, connectionEnv, dryRun: job.dryRun };
      if (phase === 'expand') {
        let backup: BackupRecord | undefined;
        if (database.backups.enabled && !job.dryRun && (await this.hasPending(db, migrations, 'expand'))) {
          say('backing up before expand');
          backup = await this.catalog.take(db, { rollout: job.rollout, revision: job.revision });
          this.catalog.prune(job.rollout, database.backups.keep);
        }
        const r = await applyPhase(db, migrations, 'expand', common);
        const kept = backup ? ` (backup ${backup.id})` : '';
        return { ok: r.ok, message: r.message + kept, applied: r.applied, ...(backup ? { backup } : {}), ...(r.plan ? { plan: r.plan } : {}) };
      }
      if (phase === 'contract') {
        const r = await applyPhase(db, migrations, 'contract', common);
        return { ok: r.ok, message: r.message, applied: r.applied, ...(r.plan ? { plan: r.plan } : {}) };
      }
      // migrate: the statements that run once, then each migration's batched backfill.
      const once = await applyPhase(db, migrations, 'migrate', common);
      if (!once.ok || job.dryRun) return { ok: once.ok, message: once.message, applied: once.applied, ...(once.plan ? { plan: once.plan } : {}) };
      const applied = [...once.applied];
      const left = await this.pendingBackfills(db, migrations);
      for (const m of left) {
        const r = await withMigrationLock(
          db,
          'migrations',
          async (lockSession) => {
            const b = await runBackfill(db, m, {
              settings: database.backfill,
              ...settings,
              signal: o.signal,
              revision: job.revision,
              progress: (p, message) => say(message ?? progressLine(p), p),
            });
            if (!b.ok) return b;
            const session = lockSession ?? (await db.connect());
            try {
              await markPhase(session, m.id, m.checksum, 'migrate', job.revision);
            } finally {
              if (!lockSession) await session.close();
            }
            return b;
          },
          (holder, waited) =>
            say(`waiting for the migration lock held by ${describeHolder(holder)}${waited > 0 ? ` (${Math.round(waited / 1000)}s so far)` : ''}`),
          { signal: o.signal },
        );
        if (!r.ok) return { ok: false, message: `${m.id}: ${r.message}`, applied };
        applied.push(m.id);
      }
      return { ok: true, message: applied.length > 0 ? `migrate: applied ${applied.join(', ')} (r${job.revision})` : once.message, applied };
    } catch (err) {
      return { ok: false, message: `${phase}: ${(err as Error).message}`, applied: [] };
    } finally {
      await db.close();
    }
  }

  async applied(database: DatabaseSpec): Promise<AppliedMigration[]> {
    const db = openDatabase(database, this.opts.env);
    const session = await db.connect();
    try {
      if (!(await historyExists(session, db.engine))) return [];
      return await readApplied(session, db.engine);
    } finally {
      await session.close();
      await db.close();
    }
  }

  async status(rollout: string, database: DatabaseSpec, refs: MigrationRef[]): Promise<DatabaseStatusView> {
    const view: DatabaseStatusView = {
      rollout,
      engine: database.engine,
      database: describeRef(database.connection),
      migrations: refs.map((r) => ({ id: r.id, checksum: r.checksum, phases: {} })),
      backfill: [],
      backups: this.catalog.list(rollout),
    };
    try {
      const db = openDatabase(database, this.opts.env);
      view.database = db.description;
      const session = await db.connect();
      try {
        if (await historyExists(session, db.engine)) {
          const applied = new Map((await readApplied(session, db.engine)).map((a) => [a.id, a]));
          for (const m of view.migrations) {
            const a = applied.get(m.id);
            if (!a) continue;
            m.phases = a.phases;
            if (a.checksum !== m.checksum) m.changed = true;
          }
          view.backfill = (await readBackfill(session)).filter((b) => refs.some((r) => r.id === b.migration));
        }
      } finally {
        await session.close();
        await db.close();
      }
    } catch (err) {
      view.error = (err as Error).message;
    }
    return view;
  }

  async plan(rollout: string, database: DatabaseSpec, refs: MigrationRef[], revision: number): Promise<string[]> {
    const out: string[] = [];
    for (const phase of ['expand', 'migrate', 'contract'] as const) {
      const r = await this.run(
        { phase, rollout, revision, database, migrations: refs, dryRun: true },
        { signal: new AbortController().signal, progress: () => {} },
      );
      out.push(...(r.plan ?? [r.ok ? r.message : `${phase}: ${r.message}`]));
    }
    return out;
  }

  backups(rollout?: string): BackupRecord[] {
    return this.catalog.list(rollout);
  }

  async restore(rollout: string, database: DatabaseSpec, id: string): Promise<BackupRecord> {
    const record = this.catalog.get(id);
    if (!record || record.rollout !== rollout)
      throw new UserError(`rollout ${rollout} has no backup ${id} — \`sluice db backups ${rollout}\` lists them`, 'not-found', 404);
    const db = openDatabase(database, this.opts.env);
    try {
      return await this.catalog.restore(db, id);
    } finally {
      await db.close();
    }
  }

  /** The folder's migrations; a bad folder or file is one line from `fail`. */
  private async load(database: DatabaseSpec, fail: (message: string) => Error): Promise<LoadedMigration[]> {
    try {
      return await loadMigrations(database.migrations, database.engine);
    } catch (err) {
      if (err instanceof MigrationError) throw fail(err.message);
      throw err;
    }
  }

  /** The job's migrations, as the revision recorded them: a file gone or changed since apply is an error. */
  private pick(all: LoadedMigration[], job: MigrationJobSpec): LoadedMigration[] {
    const byId = new Map(all.map((m) => [m.id, m]));
    return job.migrations.map((ref) => {
      const m = byId.get(ref.id);
      if (!m)
        throw new Error(
          `migration ${ref.id} of revision ${job.revision} is gone from ${job.database.migrations} — put the file back (an applied migration is never deleted)`,
        );
      if (m.checksum !== ref.checksum) {
        throw new Error(
          `${m.file} changed since revision ${job.revision} was applied — put it back as it was, or apply the rollout again to make a new revision`,
        );
      }
      return m;
    });
  }

  private async hasPending(db: DatabaseAdapter, migrations: LoadedMigration[], phase: 'expand'): Promise<boolean> {
    const session = await db.connect();
    try {
      if (!(await historyExists(session, db.engine))) return migrations.length > 0;
      const done = new Set((await readApplied(session, db.engine)).filter((a) => a.phases[phase]).map((a) => a.id));
      return migrations.some((m) => !done.has(m.id));
    } finally {
      await session.close();
    }
  }

  private async pendingBackfills(db: DatabaseAdapter, migrations: LoadedMigration[]): Promise<LoadedMigration[]> {
    const session = await db.connect();
    try {
      const done = new Set((await readApplied(session, db.engine)).filter((a) => a.phases.migrate).map((a) => a.id));
      return migrations.filter((m) => !done.has(m.id) && m.statements.some((s) => s.phase === 'migrate' && s.batch));
    } finally {
      await session.close();
    }
  }
}

function progressLine(p: BackfillProgress[]): string {
  const live = p.find((b) => !b.done) ?? p.at(-1);
  if (!live) return 'backfill starting';
  const span = Math.max(1, live.maxKey - live.minKey + 1);
  const pct = Math.min(100, Math.floor(((live.nextKey - live.minKey) * 100) / span));
  return `backfill ${live.migration} ${live.table}: ${pct}% (${live.batchesDone} batches, ${live.rowsDone} rows)`;
}
