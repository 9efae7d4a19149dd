import { Worker } from 'node:worker_threads';
import { UserError } from '../util/errors.js';
import { loadResources, type LoadedResource, type LoadOptions } from './load.js';

/**
 * loadResources on a worker thread. yaml parses about a megabyte a second here, so a
 * manifest near the size limit would hold the control plane's event loop (healthz,
 * status, the reconciler) for most of a second; small ones, the common case, are parsed
 * inline because a thread hop costs more than they do.
 */

export interface LoadRequest {
  id: number;
  text: string;
  file: string;
  options: LoadOptions;
}
export type LoadReply =
  | { id: number; resources: LoadedResource[] }
  | { id: number; error: { message: string; code: string; status: number } }
  | { id: number; crash: string };

/** Below this many characters a manifest parses in a few milliseconds: no thread. */
const INLINE_CHARS = 16 * 1024;
/** Bounded by the spec limits to well under this; a parse past it means a bug, not a big file. */
const TIMEOUT_MS = 30_000;

let worker: Worker | undefined;
let nextId = 1;
const pending = new Map<number, { resolve: (r: LoadedResource[]) => void; reject: (e: Error) => void }>();

function failAll(w: Worker, err: Error): void {
  if (worker !== w) return;
  worker = undefined;
  for (const p of pending.values()) p.reject(err);
  pending.clear();
}

function ensureWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(new URL('./load-worker.js', import.meta.url));
  // Idle, it must not keep a process (a test, the CLI) alive.
  w.unref();
  w.on('message', (reply: LoadReply) => {
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    if (pending.size === 0) w.unref();
    if ('resources' in reply) p.resolve(reply.resources);
    else if ('error' in reply) p.reject(new UserError(reply.error.message, reply.error.code, reply.error.status));
    else p.reject(new Error(`parsing the manifest failed: ${reply.crash}`));
  });
  w.on('error', (err) => failAll(w, err));
  w.on('exit', (code) => failAll(w, new Error(`the manifest parser stopped (exit ${code})`)));
  worker = w;
  return w;
}

export async function loadResourcesAsync(text: string, file: string, options: LoadOptions = {}): Promise<LoadedResource[]> {
  if (text.length <= INLINE_CHARS) return loadResources(text, file, options);
  const w = ensureWorker();
  const id = nextId++;
  return new Promise<LoadedResource[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      if (!pending.delete(id)) return;
      reject(new UserError(`${file}: parsing took longer than ${TIMEOUT_MS / 1000} s — split the file`));
      void w.terminate();
    }, TIMEOUT_MS);
    timer.unref();
    const done =
      <T>(f: (v: T) => void) =>
      (v: T) => {
        clearTimeout(timer);
        f(v);
      };
    pending.set(id, { resolve: done(resolve), reject: done(reject) });
    w.ref();
    w.postMessage({ id, text, file, options } satisfies LoadRequest);
  });
}
