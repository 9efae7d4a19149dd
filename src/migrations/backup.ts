import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackupRecord } from '../core/database.js';
import type { DatabaseAdapter } from './db/adapter.js';

/**
 * The backups taken before expand, in one folder (`<stateDir>/backups/`): one file per
 * backup, named by its id, and `index.json` listing them (written to a temporary file and
 * renamed, so a crash leaves the old index or the new one, never half of one). A dump is
 * written under a `.partial` name and renamed when complete, so a file named by an id is
 * always a whole backup.
 */
export class BackupCatalog {
  private readonly indexFile: string;

  constructor(readonly dir: string) {
    this.indexFile = join(dir, 'index.json');
  }

  private read(): BackupRecord[] {
    if (!existsSync(this.indexFile)) return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.indexFile, 'utf8'));
    } catch (err) {
      throw new Error(`backups: ${this.indexFile} is not readable JSON (${(err as Error).message}) — restore it from the files or move it away`);
    }
    if (!Array.isArray(parsed)) throw new Error(`backups: ${this.indexFile} is not a list — move it away`);
    return parsed as BackupRecord[];
  }

  private write(records: BackupRecord[]): void {
    mkdirSync(this.dir, { recursive: true });
    const tmp = `${this.indexFile}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(records, null, 2)}\n`);
    renameSync(tmp, this.indexFile);
  }

  /** Backs the database up now; the record is in the index once the file is complete. */
  async take(db: DatabaseAdapter, opts: { rollout: string; revision: number; now?: Date }): Promise<BackupRecord> {
    mkdirSync(this.dir, { recursive: true });
    const records = this.read();
    const base = `b-${safe(opts.rollout)}-r${opts.revision}-${stamp(opts.now ?? new Date())}`;
    let id = base;
    for (let n = 2; records.some((r) => r.id === id) || existsSync(this.fileOf(db, id)); n++) id = `${base}-${n}`;
    const file = this.fileOf(db, id);
    const partial = `${file}.partial`;
    rmSync(partial, { force: true });
    let bytes: number;
    try {
      ({ bytes } = await db.backup(partial));
      renameSync(partial, file);
    } catch (err) {
      rmSync(partial, { force: true });
      throw err;
    }
    const record: BackupRecord = { id, rollout: opts.rollout, revision: opts.revision, engine: db.engine, file, bytes, createdAt: Date.now() };
    // Read again: another backup may have been recorded while this one was written.
    this.write([...this.read(), record]);
    return record;
  }

  /** Oldest first; one rollout's, or all. */
  list(rollout?: string): BackupRecord[] {
    return this.read()
      .filter((r) => rollout === undefined || r.rollout === rollout)
      .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  get(id: string): BackupRecord | undefined {
    return this.read().find((r) => r.id === id);
  }

  /** Keeps the newest `keep` backups of `rollout`, deleting the older files; returns those removed. */
  prune(rollout: string, keep: number): BackupRecord[] {
    const mine = this.list(rollout);
    const removed = mine.slice(0, Math.max(0, mine.length - Math.max(0, keep)));
    if (removed.length === 0) return [];
    const gone = new Set(removed.map((r) => r.id));
    this.write(this.read().filter((r) => !gone.has(r.id)));
    for (const r of removed) rmSync(r.file, { force: true });
    return removed;
  }

  /** Puts the database back as it was when backup `id` was taken. */
  async restore(db: DatabaseAdapter, id: string): Promise<BackupRecord> {
    const record = this.get(id);
    if (!record) throw new Error(`backup ${id} not found in ${this.dir} — list them with \`sluice db backups\``);
    if (record.engine !== db.engine)
      throw new Error(`backup ${id} is of a ${record.engine} database, not ${db.engine} — restore it into a ${record.engine} database`);
    if (!existsSync(record.file)) throw new Error(`backup ${id}: its file ${record.file} is gone — pick another backup`);
    await db.restore(record.file);
    return record;
  }

  private fileOf(db: DatabaseAdapter, id: string): string {
    return join(this.dir, `${id}${db.engine === 'postgres' ? '.dump' : '.sqlite'}`);
  }
}

function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 60);
}

/** yyyymmddhhmmss, UTC. */
function stamp(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').replace(/\..*$/, '');
}
