/**
 * Reads the JSON access log sluice configures (render.ts LOG_FORMAT) incrementally: it
 * remembers its offset, starts over when the file was truncated, and finishes the old file
 * before following a new one after a rotation (a new inode at the same path).
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';

const CHUNK = 1 << 20;

export class LogTail {
  private fd: number | undefined;
  private ino = -1;
  private offset = 0;
  private partial = '';
  private readonly buf = Buffer.allocUnsafe(CHUNK);

  constructor(
    readonly path: string,
    private readonly onLine: (line: string) => void,
  ) {}

  /** Reads every complete line written since the last call. */
  poll(): void {
    let ino: number;
    let size: number;
    try {
      ({ ino, size } = statSync(this.path));
    } catch {
      return; // not there (yet)
    }
    if (this.fd !== undefined && ino !== this.ino) {
      this.drain(); // the rest of the rotated file
      this.close();
    }
    if (this.fd === undefined) {
      try {
        this.fd = openSync(this.path, 'r');
      } catch {
        return;
      }
      this.ino = fstatSync(this.fd).ino;
      this.offset = 0;
      this.partial = '';
    } else if (size < this.offset) {
      this.offset = 0; // truncated
      this.partial = '';
    }
    this.drain();
  }

  private drain(): void {
    if (this.fd === undefined) return;
    for (;;) {
      const n = readSync(this.fd, this.buf, 0, CHUNK, this.offset);
      if (n <= 0) return;
      this.offset += n;
      const text = this.partial + this.buf.toString('utf8', 0, n);
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) if (line.length > 0) this.onLine(line);
      if (n < CHUNK) return;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
