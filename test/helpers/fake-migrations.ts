import type {
  AppliedMigration,
  DatabaseSpec,
  MigrationCatalog,
  MigrationExecutor,
  MigrationJobSpec,
  MigrationPhase,
  MigrationRef,
  PhaseProgress,
  PhaseResult,
} from '../../src/core/database.js';

/**
 * The migrations port in memory, for the engine's tests: `refs` is what the folder holds
 * now (prepare answers it), every phase run is recorded with what the test's `observe`
 * saw at that moment (e.g. instances of the new revision), and `fail` makes a phase fail.
 */
export class FakeMigrations implements MigrationExecutor, MigrationCatalog {
  refs: MigrationRef[] = [];
  readonly applied_ = new Map<string, AppliedMigration>();
  readonly runs: { phase: MigrationPhase; revision: number; migrations: string[]; applied: string[]; seen?: unknown }[] = [];
  fail: Partial<Record<MigrationPhase, string>> = {};
  observe?: () => unknown;
  /** While set, phases wait for it (a long backfill). */
  hold?: Promise<void>;

  async prepare(_db: DatabaseSpec) {
    return { refs: structuredClone(this.refs), warnings: [] };
  }

  async run(job: MigrationJobSpec, opts: { signal: AbortSignal; progress: (p: PhaseProgress) => void }): Promise<PhaseResult> {
    if (this.hold) await this.hold;
    opts.progress({ phase: job.phase, message: `${job.phase} running` });
    const failure = this.fail[job.phase];
    const pending = job.migrations.filter(
      (m) => !this.applied_.get(m.id)?.phases[job.phase] && (job.phase !== 'contract' || this.applied_.get(m.id)?.phases.expand),
    );
    this.runs.push({
      phase: job.phase,
      revision: job.revision,
      migrations: job.migrations.map((m) => m.id),
      applied: failure ? [] : pending.map((m) => m.id),
      seen: this.observe?.(),
    });
    if (failure) return { ok: false, message: failure, applied: [] };
    for (const m of pending) {
      const a = this.applied_.get(m.id) ?? { id: m.id, checksum: m.checksum, phases: {} };
      a.phases[job.phase] = { revision: job.revision, at: 0 };
      this.applied_.set(m.id, a);
    }
    return { ok: true, message: `${job.phase}: ${pending.length} migration(s)`, applied: pending.map((m) => m.id) };
  }

  async applied(_db: DatabaseSpec): Promise<AppliedMigration[]> {
    return [...this.applied_.values()];
  }
}
