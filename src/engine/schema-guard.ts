import type { AppliedMigration, MigrationCatalog, MigrationExecutor } from '../core/database.js';
import type { JobStore } from '../core/jobs.js';
import type { Revision } from '../core/rollout.js';
import type { LoadedRollout } from '../spec/load.js';
import { UserError } from '../util/errors.js';

/** What the controller needs of the migrations: reading a folder at apply, and what ran. */
export type SchemaPort = MigrationCatalog & Pick<MigrationExecutor, 'applied'>;

/**
 * At apply: each rollout with `spec.database` gets its migrations loaded and linted (an
 * error refuses the whole apply, nothing changes) and its template records their ids and
 * checksums, so a changed migration set is a new revision.
 */
export async function attachMigrations(docs: LoadedRollout[], port: SchemaPort | undefined): Promise<string[]> {
  const warnings: string[] = [];
  for (const doc of docs) {
    const db = doc.spec.database;
    if (!db) continue;
    if (!port)
      throw new UserError(
        `${doc.file}:${doc.line}: rollout ${doc.spec.name} has spec.database, but this control plane runs no migrations — start it with \`sluice up\``,
      );
    const { refs, warnings: w } = await port.prepare(db);
    warnings.push(...w.map((line) => `rollout ${doc.spec.name}: ${line}`));
    doc.spec = { ...doc.spec, template: { ...doc.spec.template, migrations: refs } };
  }
  return warnings;
}

/**
 * Before an undo: the revision going back must have been built with every migration whose
 * contract already ran (contract removed what older revisions read). Known from the
 * rollout's own job records, and from the database itself when it answers.
 */
export async function checkUndoSchema(
  name: string,
  target: Revision,
  database: boolean,
  jobs: JobStore,
  port: SchemaPort | undefined,
  spec?: Parameters<SchemaPort['applied']>[0],
): Promise<void> {
  if (!database) return;
  const contracted = new Map<string, number>();
  for (const { job, status } of jobs.listJobs(name)) {
    if (job.spec.kind === 'migration' && job.spec.migration.phase === 'contract' && status.phase === 'Successful') {
      for (const m of job.spec.migration.migrations) if (m.contract) contracted.set(m.id, job.spec.migration.revision);
    }
  }
  if (port && spec) {
    let applied: AppliedMigration[] = [];
    try {
      applied = await port.applied(spec);
    } catch {
      // The database cannot be read now: the job records still tell what this rollout contracted.
    }
    const destructive = new Set(
      jobs.listJobs(name).flatMap(({ job }) => (job.spec.kind === 'migration' ? job.spec.migration.migrations.filter((m) => m.contract).map((m) => m.id) : [])),
    );
    for (const a of applied) if (a.phases.contract && destructive.has(a.id)) contracted.set(a.id, a.phases.contract.revision);
  }
  const built = new Set((target.template.migrations ?? []).map((m) => m.id));
  const missing = [...contracted].filter(([id]) => !built.has(id));
  if (missing.length === 0) return;
  const list = missing.map(([id, rev]) => `${id} (contracted by revision ${rev})`).join(', ');
  throw new UserError(
    `rollout ${name}: revision ${target.number} cannot come back: it was built before migration ${list}, whose contract removed the schema it reads — release a new revision that works with the current schema, or restore a backup taken before the contract (\`sluice db backups ${name}\`)`,
    'conflict',
    409,
  );
}
