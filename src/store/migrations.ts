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
