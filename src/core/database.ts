/**
 * Database migrations tied to a release (docs/migrations.md). A Rollout's `spec.database`
 * names a database and a folder of migrations; each migration's statements belong to one
 * phase of the release:
 *
 * - `expand`: backward compatible (the old version keeps working); runs before any
 *   instance of the new revision starts;
 * - `migrate`: data backfill, in throttled batches that resume after a crash;
 * - `contract`: removes what only the old version needed; runs once no old revision can
 *   come back (after promotion and the rollback window, `contractAfter`).
 *
 * Migration files, in file-name order (`001_add_email.sql`, `002_full_name.yaml`):
 *
 * - `.sql`: sections opened by a line comment `-- sluice:expand`, `-- sluice:migrate` or
 *   `-- sluice:contract` (in that order, each at most once; a statement before the first
 *   section is an error). In the migrate section `-- sluice:batch key=id size=5000`
 *   right before an UPDATE / DELETE / INSERT … SELECT makes it a batched backfill: the
 *   statement uses `$1` and `$2` as the key range `[$1, $2)` and runs once per batch.
 *   `-- sluice:no-transaction` before a statement runs it alone outside a transaction
 *   (implied for CREATE/DROP INDEX CONCURRENTLY). `-- sluice:allow RULE…` before a
 *   statement waives those lint rules for it.
 * - `.yaml`: operations that keep two shapes of a table alive during the release
 *   (`renameColumn`, `changeType`, `replaceColumns`), compiled to the three sections.
 *
 * The engine sees only this contract: `MigrationExecutor` runs one phase as a job.
 */

export type DatabaseEngine = 'postgres' | 'sqlite';
export type MigrationPhase = 'expand' | 'migrate' | 'contract';
export const MIGRATION_PHASES: readonly MigrationPhase[] = ['expand', 'migrate', 'contract'];

/**
 * Where the connection comes from. PostgreSQL: a URL read from an environment variable
 * or a file when a phase runs (never stored, logged or printed). SQLite: the file's path.
 */
export type ConnectionRef = { env: string } | { file: string } | { path: string };

/** A framework's own migration command for a phase (run with DATABASE_URL set). */
export interface ToolCommand {
  command: string[];
  cwd?: string;
  timeoutSeconds: number;
}

export interface BackfillSettings {
  /** Rows (key range width) per batch, unless the statement's `size=` says otherwise. */
  batchSize: number;
  /** Pause between batches (ms). */
  pauseMs: number;
  /** PostgreSQL: wait while a replica lags more than this (s), where pg_stat_replication shows one. */
  maxReplicationLagSeconds?: number;
  /** PostgreSQL: wait while more than this many other sessions are active (database load). */
  maxActiveSessions?: number;
}

export interface DatabaseSpec {
  engine: DatabaseEngine;
  connection: ConnectionRef;
  /** Absolute folder of migration files. */
  migrations: string;
  /** Phases run by an external tool instead of (after) the SQL files. */
  tool?: Partial<Record<MigrationPhase, ToolCommand>>;
  /** Per migration session: `SET lock_timeout` (ms). */
  lockTimeoutMs: number;
  /** Per migration session: `SET statement_timeout` (ms; 0 = none). */
  statementTimeoutMs: number;
  /** A statement that timed out on its lock is retried this many times, with backoff. */
  lockRetries: number;
  retryBackoffMs: number;
  backfill: BackfillSettings;
  backups: { enabled: boolean; keep: number };
  /** When contract runs: at the next release (default) or this long after promotion. */
  contractAfter: { nextRelease: true } | { seconds: number };
  /** Before the canary gets traffic: the stable revision's smoke tests against the new schema. */
  verifyStable: boolean;
}

/** One statement of a migration, where it is in its file, and how it runs. */
export interface MigrationStatement {
  phase: MigrationPhase;
  sql: string;
  /** 1-based position of the statement's first character in its file. */
  line: number;
  col: number;
  /** Batched backfill (migrate only): `$1`, `$2` are the key range. */
  batch?: { table: string; key: string; size?: number };
  /** Runs alone, outside a transaction. */
  noTransaction: boolean;
  /** Lint rules waived for this statement (`-- sluice:allow RULE…`), e.g. a known-small table. */
  allow?: string[];
}

export interface Migration {
  /** File name without extension: `002_full_name`. */
  id: string;
  /** Absolute path. */
  file: string;
  /** sha256 (hex) of the file's bytes: an applied file that changed is an error. */
  checksum: string;
  statements: MigrationStatement[];
}

/** What a revision's template records of its schema: the migrations it was built for. */
export interface MigrationRef {
  id: string;
  checksum: string;
  /** It has contract statements (or a contract tool command): once they ran, older revisions cannot come back. */
  contract?: true;
}

/** A migration's state in the target database (sluice_migrations). */
export interface AppliedMigration {
  id: string;
  checksum: string;
  /** Revision that ran each phase, and when (ms). */
  phases: Partial<Record<MigrationPhase, { revision: number; at: number }>>;
}

/** Progress of a batched backfill, as `sluice get rollout` and `sluice db status` show it. */
export interface BackfillProgress {
  migration: string;
  /** Index of the statement within the migrate section. */
  statement: number;
  table: string;
  /** Next key to process; batches below it are done. */
  nextKey: number;
  /** Key range (min, max) found when the backfill started. */
  minKey: number;
  maxKey: number;
  batchesDone: number;
  rowsDone: number;
  done: boolean;
}

export interface PhaseProgress {
  phase: MigrationPhase;
  message: string;
  backfill?: BackfillProgress[];
}

export interface PhaseResult {
  ok: boolean;
  message: string;
  /** Expand: the backup taken before it. */
  backup?: BackupRecord;
  applied: string[];
  /** Dry run: what would run, in order. */
  plan?: string[];
}

export interface BackupRecord {
  id: string;
  rollout: string;
  revision: number;
  engine: DatabaseEngine;
  /** Absolute path of the dump (pg_dump custom format) or SQLite copy. */
  file: string;
  bytes: number;
  createdAt: number;
}

/** What a migration job needs to run one phase (the planner puts it in the job spec). */
export interface MigrationJobSpec {
  phase: MigrationPhase;
  rollout: string;
  /** The revision whose template lists `migrations`. */
  revision: number;
  database: DatabaseSpec;
  migrations: MigrationRef[];
  dryRun?: boolean;
}

/**
 * Runs phases for the engine's JobRunner (src/migrations/executor.ts implements it). It
 * reads the files, checks their checksums against the refs, takes the advisory lock, and
 * reports progress while it works. A failure is a result, not a throw.
 */
export interface MigrationExecutor {
  run(job: MigrationJobSpec, opts: { signal: AbortSignal; progress: (p: PhaseProgress) => void }): Promise<PhaseResult>;
  /** Migrations applied in the database (for undo checks and `sluice db status`). */
  applied(database: DatabaseSpec): Promise<AppliedMigration[]>;
}

/**
 * Reads and checks a rollout's migrations when it is applied: loads the folder, lints it
 * (errors refuse the apply, naming file:line:col) and answers the refs the new template
 * records. Implemented by src/migrations/service.ts.
 */
export interface MigrationCatalog {
  prepare(database: DatabaseSpec): Promise<{ refs: MigrationRef[]; warnings: string[] }>;
}

/** `GET /v1/rollouts/:name/database`: what `sluice db status` shows. */
export interface DatabaseStatusView {
  rollout: string;
  engine: DatabaseEngine;
  /** Where it is, without credentials. */
  database: string;
  /** Migrations of the current revision and how far each got. */
  migrations: { id: string; checksum: string; phases: AppliedMigration['phases']; changed?: boolean }[];
  backfill: BackfillProgress[];
  backups: BackupRecord[];
  /** Set when the database could not be read (the rest is what the control plane knows). */
  error?: string;
}

/** The database actions the API serves (src/migrations/service.ts). */
export interface DatabaseActions {
  status(rollout: string, database: DatabaseSpec, refs: MigrationRef[]): Promise<DatabaseStatusView>;
  /** The dry run: what the pending phases would do, in order; changes nothing. */
  plan(rollout: string, database: DatabaseSpec, refs: MigrationRef[], revision: number): Promise<string[]>;
  backups(rollout?: string): BackupRecord[];
  /** Puts the database back as the backup has it; the caller checked that no traffic flows. */
  restore(rollout: string, database: DatabaseSpec, id: string): Promise<BackupRecord>;
}
