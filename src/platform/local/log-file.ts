/** Reading an instance's log file in chunks, for `LocalPlatform.readLogs`. */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { MAX_LOG_CHUNK_BYTES, type LogChunk } from '../../core/platform.js';

/** How many bytes at the end of `buf` start a UTF-8 character that is not complete yet. */
function incompleteTail(buf: Buffer): number {
  for (let back = 1; back <= Math.min(3, buf.length); back++) {
    const byte = buf[buf.length - back]!;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: look further back
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/**
 * Up to `maxBytes` of `file` from `offset` (at least 4: one whole character). A missing file is empty (the process has not
 * written yet); a file shorter than `offset` was truncated or replaced and is read from 0.
 * When more follows than fits, the chunk ends after its last complete line, so the text
 * redacted downstream never splits a line (nor a character) between two chunks.
 */
export function readLogFile(file: string, offset: number, maxBytes: number): LogChunk {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { text: '', offset: 0 };
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    const from = size < offset ? 0 : offset;
    const want = Math.min(size - from, Math.max(4, Math.min(maxBytes, MAX_LOG_CHUNK_BYTES)));
    const buf = Buffer.alloc(want);
    let read = 0;
    while (read < want) {
      const n = readSync(fd, buf, read, want - read, from + read);
      if (n === 0) break;
      read += n;
    }
    let end = read;
    if (from + read < size) {
      const lastNewline = buf.lastIndexOf(0x0a, read - 1);
      if (lastNewline >= 0) end = lastNewline + 1;
    }
    // At the end of the file a multi-byte character may still be being written.
    end -= incompleteTail(buf.subarray(0, end));
    return { text: buf.subarray(0, end).toString('utf8'), offset: from + end };
  } finally {
    closeSync(fd);
  }
}
