import type Database from 'better-sqlite3';

/**
 * The schema as the steps that build it, applied in order. A released step is never
 * edited: a change is a new step at the end. The schema version (SQLite's user_version)
 * is the number of steps, so a new step is all a schema change needs.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE rollouts (
     name TEXT PRIMARY KEY,
     spec TEXT NOT NULL,
     source TEXT NOT NULL,
     status TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE revisions (
     rollout TEXT NOT NULL,
     number INTEGER NOT NULL,
     template TEXT NOT NULL,
     hash TEXT NOT NULL,
     cause TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (rollout, number)
   );
   CREATE TABLE events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     rollout TEXT NOT NULL,
     at INTEGER NOT NULL,
     type TEXT NOT NULL,
     reason TEXT NOT NULL,
     message TEXT NOT NULL,
     revision INTEGER,
     actor TEXT NOT NULL
   );
   CREATE INDEX events_by_rollout ON events (rollout, id);
   CREATE TABLE instances (
     id TEXT PRIMARY KEY,
     rollout TEXT NOT NULL,
     record TEXT NOT NULL
   );
   CREATE TABLE kv (
     key TEXT PRIMARY KEY,
     value TEXT NOT NULL
   );`,
  `CREATE TABLE templates (
     name TEXT PRIMARY KEY,
     spec TEXT NOT NULL,
     source TEXT NOT NULL
   );
   CREATE TABLE jobs (
     key TEXT PRIMARY KEY,
     rollout TEXT NOT NULL,
     job TEXT NOT NULL,
     status TEXT NOT NULL
   );
   CREATE INDEX jobs_by_rollout ON jobs (rollout);
   CREATE TABLE measurements (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     job TEXT NOT NULL,
     measurement TEXT NOT NULL
   );
   CREATE INDEX measurements_by_job ON measurements (job, id);`,
  `CREATE TABLE exposures (
     rollout TEXT NOT NULL,
     experiment TEXT NOT NULL,
     variant TEXT NOT NULL,
     record TEXT NOT NULL,
     PRIMARY KEY (rollout, experiment, variant)
   );`,
  // row-formats.ts: rows written before this step are format 1
  `ALTER TABLE rollouts ADD COLUMN spec_format INTEGER NOT NULL DEFAULT 1;
   ALTER TABLE rollouts ADD COLUMN status_format INTEGER NOT NULL DEFAULT 1;`,
  // Jobs are pruned by an exact revision column (store.ts jobRevision) instead of a LIKE on
  // their key, and measurements through their job's row. The backfill parses the key as
  // jobRevision does. Rows the old pruning left behind (a job saved again after its
  // revision was pruned or its rollout deleted, measurements of no job) are deleted:
  // nothing would ever read them.
  `ALTER TABLE jobs ADD COLUMN revision INTEGER;
   UPDATE jobs SET revision = CAST(substr(key, length(rollout) + 3, instr(substr(key, length(rollout) + 3), '/') - 1) AS INTEGER)
     WHERE substr(key, 1, length(rollout) + 2) = rollout || '/r';
   DELETE FROM jobs WHERE NOT EXISTS (SELECT 1 FROM revisions v WHERE v.rollout = jobs.rollout AND v.number = jobs.revision);
   DELETE FROM measurements WHERE job NOT IN (SELECT key FROM jobs);
   DROP INDEX jobs_by_rollout;
   CREATE INDEX jobs_by_revision ON jobs (rollout, revision);`,
  // spec format 2 (row-formats.ts): an older sluice must refuse the database, not misread its specs
  `SELECT 1;`,
  // Feature flags (core/flags.ts): spec + state per flag; evaluation totals per flag and
  // variant, summed across data-plane restarts. Usage outlives its flag (history does too).
  `CREATE TABLE flags (
     name TEXT PRIMARY KEY,
     spec TEXT NOT NULL,
     source TEXT NOT NULL,
     evaluators TEXT NOT NULL,
     state TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE flag_usage (
     flag TEXT NOT NULL,
     variant TEXT NOT NULL,
     count INTEGER NOT NULL,
     last_evaluated_at INTEGER NOT NULL,
     PRIMARY KEY (flag, variant)
   );`,
  // Experiments (core/experiment.ts, store/experiments.ts): exposed users (the first exposure
  // wins), one row per user and metric, running totals per variant and per (metric, variant)
  // kept as records are applied (sums as value + Neumaier error), raw conversions (prunable,
  // by time), ignored counters per test, journal cursors, report snapshots (JSON with its
  // format, row-formats.ts). All kept when the rollout is deleted.
  `CREATE TABLE experiment_users (
     rollout TEXT NOT NULL,
     experiment TEXT NOT NULL,
     user TEXT NOT NULL,
     variant TEXT NOT NULL,
     exposed_at INTEGER NOT NULL,
     PRIMARY KEY (rollout, experiment, user)
   ) WITHOUT ROWID;
   CREATE TABLE experiment_variant_totals (
     rollout TEXT NOT NULL,
     experiment TEXT NOT NULL,
     variant TEXT NOT NULL,
     users INTEGER NOT NULL,
     first_exposure_at INTEGER NOT NULL,
     PRIMARY KEY (rollout, experiment, variant)
   ) WITHOUT ROWID;
   CREATE TABLE experiment_values (
     rollout TEXT NOT NULL,
     experiment TEXT NOT NULL,
     metric TEXT NOT NULL,
     user TEXT NOT NULL,
     variant TEXT NOT NULL,
     value REAL NOT NULL,
     count INTEGER NOT NULL,
     pre_value REAL NOT NULL,
     has_pre INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (rollout, experiment, metric, user)
   ) WITHOUT ROWID;
   CREATE TABLE experiment_metric_totals (
     rollout TEXT NOT NULL,
     experiment TEXT NOT NULL,
     metric TEXT NOT NULL,
     variant TEXT NOT NULL,
     converted INTEGER NOT NULL,
     pre_reported INTEGER NOT NULL,
     sum REAL NOT NULL,
     sum_error REAL NOT NULL,
     sum_squares REAL NOT NULL,
     sum_squares_error REAL NOT NULL,
     pre_sum REAL NOT NULL,
     pre_sum_error REAL NOT NULL,
     pre_sum_squares REAL NOT NULL,
     pre_sum_squares_error REAL NOT NULL,
     cross_sum REAL NOT NULL,
     cross_sum_error REAL NOT NULL,
     PRIMARY KEY (rollout, experiment, metric, variant)
   ) WITHOUT ROWID;
   CREATE TABLE experiment_events (
     id INTEGER PRIMARY KEY,
     rollout TEXT NOT NULL,
     experiment TEXT NOT NULL,
     metric TEXT NOT NULL,
     user TEXT NOT NULL,
     variant TEXT NOT NULL,
     value REAL NOT NULL,
     at INTEGER NOT NULL,
     source TEXT NOT NULL,
     pre INTEGER NOT NULL,
     outcome TEXT NOT NULL
   );
   CREATE INDEX experiment_events_by_at ON experiment_events (at);
   CREATE TABLE experiment_counters (
     rollout TEXT NOT NULL,
     experiment TEXT NOT NULL,
     outside_window INTEGER NOT NULL,
     unexposed INTEGER NOT NULL,
     unknown_metric INTEGER NOT NULL,
     last_record_at INTEGER NOT NULL,
     PRIMARY KEY (rollout, experiment)
   ) WITHOUT ROWID;
   CREATE TABLE experiment_cursors (
     journal TEXT PRIMARY KEY,
     seq INTEGER NOT NULL
   );
   CREATE TABLE experiment_snapshots (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     rollout TEXT NOT NULL,
     experiment TEXT NOT NULL,
     at INTEGER NOT NULL,
     format INTEGER NOT NULL,
     report TEXT NOT NULL
   );
   CREATE INDEX experiment_snapshots_by_test ON experiment_snapshots (rollout, experiment, at, id);`,
  // Users and roles on the API (issue 15): named tokens (hashes only) and the audit log.
  `CREATE TABLE api_tokens (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     hash TEXT NOT NULL UNIQUE,
     roles TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     created_by TEXT NOT NULL,
     expires_at INTEGER,
     revoked_at INTEGER,
     revoked_by TEXT
   );
   CREATE TABLE audit_log (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at INTEGER NOT NULL,
     user TEXT NOT NULL,
     roles TEXT NOT NULL,
     method TEXT NOT NULL,
     path TEXT NOT NULL,
     status INTEGER NOT NULL,
     remote TEXT NOT NULL,
     detail TEXT
   );
   CREATE INDEX audit_log_by_user ON audit_log (user, id);`,
  // Environments, pipelines and releases (issue 15): releases, their state per stage, approvals, events.
  `CREATE TABLE environments (
     name TEXT PRIMARY KEY,
     spec TEXT NOT NULL,
     source TEXT NOT NULL
   );
   CREATE TABLE pipelines (
     name TEXT PRIMARY KEY,
     spec TEXT NOT NULL,
     source TEXT NOT NULL
   );
   CREATE TABLE releases (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     pipeline TEXT NOT NULL,
     record TEXT NOT NULL
   );
   CREATE TABLE release_stages (
     release TEXT NOT NULL,
     stage TEXT NOT NULL,
     state TEXT NOT NULL,
     PRIMARY KEY (release, stage)
   ) WITHOUT ROWID;
   CREATE TABLE release_approvals (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     release TEXT NOT NULL,
     stage TEXT NOT NULL,
     record TEXT NOT NULL
   );
   CREATE INDEX release_approvals_by_release ON release_approvals (release, id);
   CREATE TABLE release_events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     release TEXT NOT NULL,
     stage TEXT,
     at INTEGER NOT NULL,
     actor TEXT NOT NULL,
     type TEXT NOT NULL,
     reason TEXT NOT NULL,
     message TEXT NOT NULL
   );
   CREATE INDEX release_events_by_release ON release_events (release, id);`,
];

/**
 * Bring a database up to `migrations` in one transaction. A database from a newer sluice
 * (more steps than we know) is refused untouched rather than half understood.
 */
export function migrate(db: Database.Database, migrations: readonly string[] = MIGRATIONS): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new Error(`state database ${db.name} has schema ${current}, newer than this sluice understands (${migrations.length}) — upgrade sluice`);
  }
  db.transaction(() => {
    for (let v = current; v < migrations.length; v++) db.exec(migrations[v]);
    db.pragma(`user_version = ${migrations.length}`);
  })();
}
