import type { IncomingMessage } from 'node:http';

/**
 * Reads a whole request body of at most `max` bytes. A declared length over `max` is
 * refused before a byte is read; a chunked body as soon as it passes `max`. `tooLarge` is
 * called once (what happens to the rest of the body is the caller's choice), `done` only
 * for a body within the limit, and neither after a request error.
 */
export function readBoundedBody(req: IncomingMessage, max: number, on: { tooLarge(): void; done(body: Buffer): void }): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) {
    on.tooLarge();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on('data', (c: Buffer) => {
    if (over) return;
    size += c.length;
    if (size > max) {
      over = true;
      chunks.length = 0;
      on.tooLarge();
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (!over) on.done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  });
}
