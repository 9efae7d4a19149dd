import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isProcessAlive } from '../../src/util/process-control.js';

/**
 * Ports handed out to tests, below Linux's ephemeral range (32768–60999): a port picked by
 * binding port 0 comes from that range, where any outgoing connection may take it before
 * the test binds it, and where two test processes running at once get the same ports.
 */
const FIRST = 10_000;
const LAST = 32_767;
/** One file per port handed out, holding the pid of its test process (shared by every run on the machine). */
const RESERVED = join(tmpdir(), 'sluice-test-ports');

let next = FIRST + ((process.pid * 7919) % (LAST - FIRST + 1));

/**
 * A TCP port on 127.0.0.1 that is free, and stays ours: it is reserved for this process's
 * lifetime with an exclusive file (a port of a process that has exited is taken over), so
 * that no other test process picks it between this call and the bind, and checked free by
 * binding it (some other program may hold it).
 */
export async function freePort(): Promise<number> {
  mkdirSync(RESERVED, { recursive: true });
  for (let tries = 0; tries <= LAST - FIRST; tries++) {
    const port = next;
    next = next === LAST ? FIRST : next + 1;
    if (!reserve(port)) continue;
    if (await bindable(port)) return port;
  }
  throw new Error(`freePort: no free port in ${FIRST}–${LAST} (reservations in ${RESERVED})`);
}

function reserve(port: number): boolean {
  const file = join(RESERVED, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number(readFileSync(file, 'utf8').trim());
    // Being written right now (empty), or held by a live process: not ours.
    if (!(owner > 0) || isProcessAlive(owner)) return false;
    try {
      unlinkSync(file);
    } catch {
      // another process took it over first
    }
  }
  return false;
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.unref();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
