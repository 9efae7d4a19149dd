/**
 * The experiment journal: every exposure and conversion the router records, appended to
 * JSON-lines segment files in <state-dir>/router/experiments/journal/ until the control
 * plane acknowledges them (GET /experiments/records, POST /experiments/ack on the admin API).
 *
 * - Identity: `journal.json` holds a random id made once; seq numbers continue from the
 *   highest on disk (or the acknowledged cursor in `ack.json`) at every start.
 * - Batching: append() only queues; a flush runs FLUSH_MS after the first queued record (or
 *   at once past FLUSH_RECORDS), assigns seqs and writes them in one write(), one flush at a
 *   time. A kill -9 loses what was queued since the last flush (≤ FLUSH_MS); close() and a
 *   handover's suspend() flush first, so a graceful stop loses nothing. No fsync: a killed
 *   process's writes are in the page cache; only a power cut may lose the last moments.
 * - Segments: `seg-<first seq>.jsonl`, a new one past segmentBytes; a segment is deleted
 *   once every record in it is acknowledged. A torn last line (a crash mid-write) is cut at start.
 * - One writer: a handover's old process suspends its journal before the new one opens it,
 *   and forwards what it records afterwards (forwardTo) for the new one to append.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExperimentRecord, ExperimentRecordBatch } from '../../core/experiment.js';
import { writeFileAtomic } from '../persist.js';

export const FLUSH_MS = 20;
export const FLUSH_RECORDS = 2000;
export const SEGMENT_BYTES = 4 * 1024 * 1024;
export const RECORDS_DEFAULT_MAX = 5000;
export const RECORDS_MAX = 50_000;

const SEGMENT = /^seg-(\d{16})\.jsonl$/;

/** A journal request the caller got wrong: `status` is the admin API's answer. */
export class JournalError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

interface Segment {
  first: number;
  path: string;
}

export class ExperimentJournal {
  readonly dir: string;
  id = '';
  /** Highest seq written. */
  private last = 0;
  private acked = 0;
  private segments: Segment[] = [];
  private current: FileHandle | undefined;
  private currentBytes = 0;
  private pending: ExperimentRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private opened = false;
  private forward: ((records: ExperimentRecord[]) => void) | undefined;

  constructor(
    dir: string,
    private readonly segmentBytes = SEGMENT_BYTES,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.dir = dir;
  }

  /** Records queued, not yet on disk. */
  get queued(): number {
    return this.pending.length;
  }

  /** Reads the id, the cursor and the last seq from disk; queued records are written from here on. Synchronous: at start only. */
  open(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const idFile = join(this.dir, 'journal.json');
    if (existsSync(idFile)) this.id = (JSON.parse(readFileSync(idFile, 'utf8')) as { id: string }).id;
    else {
      this.id = randomUUID();
      writeFileSync(`${idFile}.tmp`, `${JSON.stringify({ id: this.id })}\n`, { mode: 0o600 });
      renameSync(`${idFile}.tmp`, idFile);
    }
    const ackFile = join(this.dir, 'ack.json');
    this.acked = existsSync(ackFile) ? (JSON.parse(readFileSync(ackFile, 'utf8')) as { upTo: number }).upTo : 0;
    this.segments = readdirSync(this.dir)
      .map((f) => SEGMENT.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ first: Number(m[1]), path: join(this.dir, m[0]) }))
      .sort((a, b) => a.first - b.first);
    this.last = this.acked;
    const tail = this.segments.at(-1);
    if (tail !== undefined) {
      this.last = Math.max(this.last, tail.first - 1, lastSeqOf(tail.path, this.log));
      this.currentBytes = statSync(tail.path).size;
    }
    this.dropAcked();
    this.opened = true;
    if (this.pending.length > 0) this.schedule();
  }

  append(record: ExperimentRecord): void {
    this.pending.push(record);
    if (this.pending.length >= FLUSH_RECORDS) this.flushSoon(0);
    else if (this.timer === undefined) this.schedule();
  }

  private schedule(): void {
    this.flushSoon(FLUSH_MS);
  }

  private flushSoon(ms: number): void {
    if (this.timer !== undefined) {
      if (ms > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush().catch((e: Error) => this.log(`experiment journal: cannot write to ${this.dir}: ${e.message}; records stay queued`));
    }, ms);
  }

  /** Writes every queued record (or hands them to the forward target). */
  flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const run = this.writing.then(() => this.writeNow());
    this.writing = run.catch(() => {});
    return run;
  }

  private async writeNow(): Promise<void> {
    if (this.pending.length === 0) return;
    if (this.forward !== undefined) {
      const records = this.pending;
      this.pending = [];
      this.forward(records);
      return;
    }
    if (!this.opened) return;
    const records = this.pending;
    this.pending = [];
    let seq = this.last;
    let text = '';
    for (const r of records) text += `{"seq":${++seq},${JSON.stringify(r).slice(1)}\n`;
    const buf = Buffer.from(text);
    try {
      if (this.current === undefined || this.currentBytes >= this.segmentBytes) await this.rotate(this.last + 1);
      await this.current!.write(buf);
    } catch (e) {
      this.pending = records.concat(this.pending);
      throw e;
    }
    this.currentBytes += buf.length;
    this.last = seq;
  }

  private async rotate(first: number): Promise<void> {
    const tail = this.segments.at(-1);
    if (this.current !== undefined) await this.current.close();
    this.current = undefined;
    if (tail !== undefined && this.currentBytes < this.segmentBytes && existsSync(tail.path)) {
      this.current = await open(tail.path, 'a', 0o600);
      return;
    }
    const path = join(this.dir, `seg-${String(first).padStart(16, '0')}.jsonl`);
    this.current = await open(path, 'a', 0o600);
    this.segments.push({ first, path });
    this.currentBytes = 0;
  }

  /** GET /experiments/records: flushed records with seq > after (and > the acknowledged cursor), oldest first. */
  async read(after: number, max = RECORDS_DEFAULT_MAX): Promise<ExperimentRecordBatch> {
    await this.flush();
    const from = Math.max(after, this.acked);
    const records: ExperimentRecordBatch['records'] = [];
    for (let i = 0; i < this.segments.length && records.length < max; i++) {
      const next = this.segments[i + 1];
      if (next !== undefined && next.first - 1 <= from) continue;
      let text: string;
      try {
        text = await readFile(this.segments[i].path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // acknowledged meanwhile
        throw e;
      }
      let at = 0;
      while (at < text.length && records.length < max) {
        const end = text.indexOf('\n', at);
        if (end < 0) break;
        const seq = Number.parseInt(text.slice(at + 7, at + 24), 10);
        if (seq > from && seq <= this.last) records.push(JSON.parse(text.slice(at, end)));
        at = end + 1;
      }
    }
    return { journal: this.id, records, last: this.last };
  }

  /** POST /experiments/ack: records ≤ upTo are no longer needed; fully acknowledged segments are deleted. */
  async ack(journal: string, upTo: number): Promise<{ acked: number }> {
    if (journal !== this.id)
      throw new JournalError(`journal ${JSON.stringify(journal).slice(0, 60)} is not this router's (${this.id}); pull GET /experiments/records again`, 409);
    if (!Number.isSafeInteger(upTo) || upTo < 0) throw new JournalError('"upTo" must be a whole number ≥ 0 (the highest seq applied)', 400);
    await this.writing;
    if (upTo > this.last) throw new JournalError(`"upTo" ${upTo} is past the last record journaled (${this.last})`, 400);
    if (upTo <= this.acked) return { acked: this.acked };
    this.acked = upTo;
    await writeFileAtomic(join(this.dir, 'ack.json'), `${JSON.stringify({ journal: this.id, upTo })}\n`);
    await this.writing;
    if (this.acked >= this.last && this.current !== undefined) {
      // Everything acknowledged: the next write starts a new segment.
      const done = this.current;
      this.current = undefined;
      this.currentBytes = this.segmentBytes;
      await done.close();
    }
    this.dropAcked();
    return { acked: this.acked };
  }

  private dropAcked(): void {
    const keep: Segment[] = [];
    this.segments.forEach((s, i) => {
      const next = this.segments[i + 1];
      const lastIn = next === undefined ? this.last : next.first - 1;
      const isCurrent = next === undefined && this.current !== undefined;
      if (lastIn <= this.acked && !isCurrent) unlinkSync(s.path);
      else keep.push(s);
    });
    this.segments = keep;
  }

  /** Handover, old side: flush, close, and queue from here on (until forwardTo or resume). */
  async suspend(): Promise<void> {
    await this.flush();
    this.opened = false;
    if (this.current !== undefined) await this.current.close();
    this.current = undefined;
  }

  /** Handover, old side, once the successor owns the journal: records go to `to` instead of the disk. */
  forwardTo(to: (records: ExperimentRecord[]) => void): void {
    this.forward = to;
    if (this.pending.length > 0) this.schedule();
  }

  /** Handover failed: own the journal again (re-read from disk, the successor may have written). */
  resume(): void {
    this.forward = undefined;
    if (this.opened) return; // never suspended (the handover failed before)
    this.open();
  }

  /** Appends records another process recorded (a handover's predecessor). */
  appendMany(records: ExperimentRecord[]): void {
    for (const r of records) this.append(r);
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.current !== undefined) await this.current.close();
    this.current = undefined;
    this.opened = false;
  }
}

/** The seq of a segment's last whole line; a torn last line is cut off. */
function lastSeqOf(path: string, log: (line: string) => void): number {
  const text = readFileSync(path, 'utf8');
  let end = text.length;
  if (end > 0 && text[end - 1] !== '\n') {
    const cut = text.lastIndexOf('\n') + 1;
    const fd = openSync(path, 'r+');
    ftruncateSync(fd, Buffer.byteLength(text.slice(0, cut)));
    closeSync(fd);
    log(`experiment journal: cut a torn last line off ${path} (the process stopped mid-write)`);
    end = cut;
  }
  if (end === 0) return 0;
  const start = text.lastIndexOf('\n', end - 2) + 1;
  return Number.parseInt(text.slice(start + 7, start + 24), 10) || 0;
}
