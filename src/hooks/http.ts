import http from 'node:http';
import https from 'node:https';
import { systemClock, type Clock } from '../core/clock.js';

/**
 * One HTTP exchange for hooks, on node:http rather than fetch: hooks need to set any
 * header (Host included, for routing rules), never keep idle sockets around (agent
 * false), cap what they read, and tell a refused connection from a timeout.
 */

export interface HttpExchange {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** Deadline for the whole exchange: connect, send, and the answer's body. */
  timeoutMs: number;
  signal?: AbortSignal;
  clock?: Clock;
  /** Body bytes kept; reading stops there and `truncated` is set. Default 1 MiB. */
  maxBodyBytes?: number;
}

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  truncated: boolean;
}

export type HttpFailureKind = 'invalid' | 'connect' | 'timeout' | 'network' | 'aborted';

/** Why no answer came. The message is a phrase that reads after "METHOD url: ". */
export class HttpFailure extends Error {
  constructor(
    message: string,
    readonly kind: HttpFailureKind,
  ) {
    super(message);
    this.name = 'HttpFailure';
  }
}

const DEFAULT_MAX_BODY = 1 << 20;

export function httpExchange(x: HttpExchange): Promise<HttpAnswer> {
  const clock = x.clock ?? systemClock;
  const max = x.maxBodyBytes ?? DEFAULT_MAX_BODY;
  return new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(x.url);
    } catch {
      reject(new HttpFailure(`not a valid URL`, 'invalid'));
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      reject(new HttpFailure(`only http:// and https:// URLs are supported, not ${url.protocol}`, 'invalid'));
      return;
    }
    if (x.signal?.aborted) {
      reject(new HttpFailure('aborted', 'aborted'));
      return;
    }
    let done = false;
    const finish = (err: HttpFailure | undefined, answer?: HttpAnswer) => {
      if (done) return;
      done = true;
      timer.cancel();
      x.signal?.removeEventListener('abort', onAbort);
      if (err !== undefined) {
        req.destroy();
        reject(err);
      } else resolve(answer!);
    };
    const onAbort = () => finish(new HttpFailure('aborted', 'aborted'));
    const headers: Record<string, string> = { ...x.headers };
    if (x.body !== undefined) headers['content-length'] = String(Buffer.byteLength(x.body));
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, { method: x.method, headers, agent: false });
    const timer = clock.setTimeout(() => finish(new HttpFailure(`no answer within ${formatMs(x.timeoutMs)}`, 'timeout')), x.timeoutMs);
    x.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (e) => finish(describeSocketError(e as NodeJS.ErrnoException, url)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      const answer = (truncated: boolean): HttpAnswer => ({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), truncated });
      res.on('data', (chunk: Buffer) => {
        const take = chunk.subarray(0, max - kept);
        chunks.push(take);
        kept += take.length;
        if (take.length < chunk.length) {
          // Enough read: stop here rather than drain a large (or endless) body.
          finish(undefined, answer(true));
          req.destroy();
        }
      });
      res.on('error', (e) => finish(describeSocketError(e as NodeJS.ErrnoException, url)));
      res.on('aborted', () => finish(new HttpFailure('the connection closed in the middle of the answer', 'network')));
      res.on('end', () => finish(undefined, answer(false)));
    });
    req.end(x.body);
  });
}

function describeSocketError(e: NodeJS.ErrnoException, url: URL): HttpFailure {
  const where = url.host;
  switch (e.code) {
    case 'ECONNREFUSED':
      return new HttpFailure(`cannot connect to ${where} (connection refused)`, 'connect');
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new HttpFailure(`cannot resolve host ${url.hostname}`, 'connect');
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new HttpFailure(`cannot reach ${where} (${e.code})`, 'connect');
    case 'ECONNRESET':
    case 'EPIPE':
      return new HttpFailure(`connection to ${where} was reset`, 'network');
    default:
      return new HttpFailure(`${where}: ${e.message}`, 'network');
  }
}

export function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** Resolves after `ms`, or early when `signal` aborts (callers check the signal). */
export function sleep(ms: number, clock: Clock, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      t.cancel();
      resolve();
    };
    const t = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Text for a one-line message: at most `n` characters of `s`, whitespace collapsed. */
export function snippet(s: string, n: number): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > n ? `${flat.slice(0, n)}…` : flat;
}
