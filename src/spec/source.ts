import { readFileSync, statSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { UserError } from '../util/errors.js';
import { LIMITS } from './limits.js';

/**
 * Manifest bytes to text, for every reader (apply, lint, stdin): a file over the size
 * limit or not valid UTF-8 is refused with its name, instead of being read with U+FFFD
 * in place of the bad bytes and stored that way.
 */

function sizeError(file: string, bytes: number): UserError {
  return new UserError(
    `${file}: is ${bytes} bytes, more than the limit of ${LIMITS.fileBytes} bytes (${LIMITS.fileBytes / 1024} KiB) for one manifest — split it into several files`,
  );
}

/** Refuses text longer than a manifest may be (also checked by loadResources, for the API). */
export function checkSpecSize(bytes: number, file: string): void {
  if (bytes > LIMITS.fileBytes) throw sizeError(file, bytes);
}

/** Decodes a manifest's bytes as UTF-8, or throws naming the file and the first bad byte's offset. */
export function decodeSpecFile(bytes: Uint8Array, file: string): string {
  checkSpecSize(bytes.length, file);
  if (!isUtf8(bytes)) {
    const offset = firstInvalidUtf8(bytes);
    throw new UserError(`${file}: is not valid UTF-8 at byte ${offset} — save the file as UTF-8`);
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Reads a manifest file: the size is checked before reading, so a huge file is never loaded. */
export function readSpecFile(path: string): string {
  const size = statSync(path).size;
  if (size > LIMITS.fileBytes) throw sizeError(path, size);
  return decodeSpecFile(readFileSync(path), path);
}

/** Offset of the first byte that does not belong to a well-formed UTF-8 sequence. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    let n: number;
    let min: number;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) [n, min] = [1, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [n, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [n, min] = [3, 0x10000];
    else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const x = b[i + k];
      if (x === undefined || (x & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (x & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return i;
    i += n + 1;
  }
  return b.length;
}
