/**
 * The exposed-user sets of the experiments in the table (exposed-set.ts), kept on disk so
 * that a restart or a handover does not expose a user twice: one append-only file of 8-byte
 * hashes per experiment in <state-dir>/router/experiments/exposed/<id>.bin (with <id>.json
 * naming the rollout and experiment), loaded when a table with that experiment is compiled.
 *
 * Retention: a set whose experiment leaves the table is unloaded (its .json's mtime then says
 * when; the .bin's says when a user was last added), and its files are deleted once it has been
 * out of the table and unused for `graceMs` (default
 * a day: a table that briefly drops and restores the test keeps its users). The control
 * plane's acknowledgements do not delete sets: the journal is theirs, the sets the router's.
 *
 * A handover's old process may still append to a file the new one has loaded; hashes it adds
 * then are on disk but not in the new process's memory, so such a user may get a second
 * exposure record (the store counts distinct users).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExposedSet } from './exposed-set.js';

export const EXPOSED_GRACE_MS = 24 * 3600_000;

/** One experiment's set and the hashes added since the last flush. */
export class ExposureFile {
  readonly set: ExposedSet;
  private added: number[] = [];

  constructor(
    readonly path: string,
    initial: ExposedSet,
  ) {
    this.set = initial;
  }

  /** Adds a user's hash; true the first time (then it is written at the next flush). */
  add(h: number): boolean {
    if (!this.set.add(h)) return false;
    this.added.push(h);
    return true;
  }

  get dirty(): boolean {
    return this.added.length > 0;
  }

  async flush(): Promise<void> {
    if (this.added.length === 0) return;
    const hashes = this.added;
    this.added = [];
    const buf = Buffer.from(new Float64Array(hashes).buffer);
    try {
      await appendFile(this.path, buf, { mode: 0o600 });
    } catch (e) {
      this.added = hashes.concat(this.added);
      throw e;
    }
  }
}

export class ExposureSets {
  private readonly loaded = new Map<string, ExposureFile>();

  constructor(
    readonly dir: string,
    private readonly graceMs = EXPOSED_GRACE_MS,
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** The set of (rollout, experiment), loaded from disk the first time. Synchronous (compile time). */
  get(rollout: string, experiment: string): ExposureFile {
    const id = fileId(rollout, experiment);
    let f = this.loaded.get(id);
    if (f !== undefined) return f;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const path = join(this.dir, `${id}.bin`);
    const meta = join(this.dir, `${id}.json`);
    if (!existsSync(meta)) writeFileSync(meta, `${JSON.stringify({ rollout, experiment })}\n`, { mode: 0o600 });
    let set = new ExposedSet();
    if (existsSync(path)) {
      const raw = readFileSync(path);
      const n = Math.floor(raw.length / 8);
      const hashes = new Float64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + n * 8));
      set = new ExposedSet(n);
      for (let i = 0; i < n; i++) if (hashes[i] > 0) set.add(hashes[i]);
    }
    f = new ExposureFile(path, set);
    this.loaded.set(id, f);
    return f;
  }

  async flush(): Promise<void> {
    for (const f of this.loaded.values()) if (f.dirty) await f.flush();
  }

  /**
   * After a table swap: unloads the sets of experiments no longer in it (their files' mtime
   * marks when) and deletes the files of those out for longer than the grace.
   */
  async retain(live: Set<string>, now = Date.now()): Promise<void> {
    for (const [id, f] of [...this.loaded]) {
      if (live.has(id)) continue;
      this.loaded.delete(id);
      await f.flush().catch(() => {});
      try {
        utimesSync(join(this.dir, `${id}.json`), now / 1000, now / 1000);
      } catch {}
    }
    if (!existsSync(this.dir)) return;
    for (const name of readdirSync(this.dir)) {
      const m = /^([0-9a-f]{24})\.json$/.exec(name);
      if (m === null || live.has(m[1]) || this.loaded.has(m[1])) continue;
      const meta = join(this.dir, name);
      // Last seen: unloaded (the .json is touched then) or last written to (the .bin).
      const bin = join(this.dir, `${m[1]}.bin`);
      const seen = Math.max(statSync(meta).mtimeMs, existsSync(bin) ? statSync(bin).mtimeMs : 0);
      if (now - seen < this.graceMs) continue;
      let what = m[1];
      try {
        const j = JSON.parse(readFileSync(meta, 'utf8')) as { rollout: string; experiment: string };
        what = `${j.rollout} ${j.experiment}`;
      } catch {}
      rmSync(bin, { force: true });
      unlinkSync(meta);
      this.log(`experiments: dropped the exposed users of ${what} (out of the route table for over ${Math.round(this.graceMs / 60_000)} min)`);
    }
  }
}

/** The file id of (rollout, experiment). */
export function fileId(rollout: string, experiment: string): string {
  return createHash('sha256').update(`${rollout}\0${experiment}`).digest('hex').slice(0, 24);
}
