/**
 * The OFREP endpoint the data plane serves: the OpenFeature Remote Evaluation Protocol
 * (github.com/open-feature/protocol, service/openapi.yaml 0.3.0, with its SSE event
 * streams of ADR-0008 / service/event-streams.yaml), over plain node:http because it is on
 * the data plane's hot path.
 *
 *   POST /ofrep/v1/evaluate/flags/{key}   one flag: 200 {key, value, reason, variant, metadata};
 *                                         404 FLAG_NOT_FOUND; 400 {key, errorCode, errorDetails}
 *   POST /ofrep/v1/evaluate/flags         every flag the token may read: 200 {flags, metadata,
 *                                         eventStreams} with an ETag; If-None-Match → 304
 *   GET  /ofrep/v1/flags/changes          SSE: `data: {"type":"refetchEvaluation","etag":…}` on
 *                                         every push that changed the flags; a comment every 15 s
 *
 * Client tokens (`Authorization: Bearer <token>` or OFREP's `X-API-Key: <token>`) are checked
 * as sha256 against the push's tokens in constant time: none or unknown → 401, a flag the
 * token may not read → 403 (bulk answers only the flags it may read). The change stream
 * carries no flag data, only "fetch again", and is public: a browser's EventSource cannot send
 * headers. CORS answers any origin (the web SDK runs on the app's pages, credentials are
 * never cookies). Before the first push every evaluation answers 503.
 *
 * The ETag of a bulk answer is a hash of the answer itself: it changes with the flags, the
 * token's flag list and the context, and also when a time-dependent rule ($flagd.timestamp)
 * turns, so a 304 is never stale.
 */
import { readBoundedBody } from '../http/body.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { FLAG_KEY_PATTERN, type FlagPush, type FlagUsage } from '../core/flags.js';
import { contextProblem, type Evaluation, type EvaluationContext, FlagEvaluator, isFailure } from './evaluator.js';

/** Largest request body read, bytes: an evaluation context is a few hundred bytes; more is refused before parsing. */
export const OFREP_BODY_LIMIT = 64 * 1024;
/** How often an open change stream gets a comment, so proxies and clients see it alive. */
export const OFREP_HEARTBEAT_MS = 15_000;
export const OFREP_SINGLE_PREFIX = '/ofrep/v1/evaluate/flags/';
export const OFREP_BULK_PATH = '/ofrep/v1/evaluate/flags';
export const OFREP_CHANGES_PATH = '/ofrep/v1/flags/changes';
/** Open change streams at most; more answer 503. */
export const OFREP_MAX_STREAMS = 10_000;

export interface OfrepServiceOptions {
  /** Epoch ms; tests pass a fake. */
  now?: () => number;
  /** Change-stream heartbeat period, ms (default OFREP_HEARTBEAT_MS); tests pass less. */
  heartbeatMs?: number;
  /** Largest request body, bytes (default OFREP_BODY_LIMIT). */
  bodyLimit?: number;
  /** Open change streams at most (default OFREP_MAX_STREAMS). */
  maxStreams?: number;
  /**
   * More POST endpoints of the data plane's client API on this server, by path (the router's
   * experiment events, src/router/experiments/events.ts): admitted like an evaluation (503
   * before the first push, 401 without a client token), then the handler reads the body.
   */
  mounts?: ReadonlyMap<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>;
}

/** One OFREP endpoint: the data plane's listener calls `handle` for every request. */
export interface OfrepService {
  /** Serve one HTTP request (any path; non-OFREP paths answer 404). */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void;
  /**
   * Swap in a new push (flags and tokens); open change streams are told at once. Throws a
   * one-line Error and keeps serving the previous push when the document or a token is unusable.
   */
  update(push: FlagPush): void;
  /** The push in effect, or undefined before the first. */
  current(): FlagPush | undefined;
  /** Cumulative evaluation counters since this service started. */
  usage(): FlagUsage[];
  /** Ends open change streams (SSE) so a listener can close. */
  close(): void;
}

interface Token {
  name: string;
  digest: Buffer;
  flags?: ReadonlySet<string>;
}

interface State {
  push: FlagPush;
  evaluator: FlagEvaluator;
  tokens: Token[];
  /** Hash of the document and tokens: what the change stream announces. */
  etag: string;
}

const CORS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'ETag',
};
const PREFLIGHT: Record<string, string> = {
  ...CORS,
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'Authorization, Content-Type, If-None-Match, X-API-Key',
  'access-control-max-age': '86400',
};
const EVENT_STREAMS = [{ type: 'sse', endpoint: { requestUri: OFREP_CHANGES_PATH } }];
/** Past this much of an over-long body the connection is cut instead of drained. */
const DRAIN_LIMIT = 4 * 1024 * 1024;

function send(res: http.ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...CORS,
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function sha256(s: string | Buffer): Buffer {
  return createHash('sha256').update(s).digest();
}

function quoteEtag(hex: string): string {
  return `"${hex}"`;
}

/** Whether If-None-Match names `etag` (a list, weak or strong, or `*`). */
function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  for (const part of ifNoneMatch.split(',')) {
    const t = part.trim();
    if (t === '*' || t === etag || t === `W/${etag}`) return true;
  }
  return false;
}

/** Why a flag key from the path is not one, or undefined. */
function keyProblem(key: string): string | undefined {
  if (key === '') return 'the flag key in the path is empty; use /ofrep/v1/evaluate/flags/{key}';
  if (key.includes('/')) return `flag key '${key.slice(0, 130)}' contains '/'; a flag key is [A-Za-z0-9_.-], so no flag has it`;
  if (key.includes('..')) return `flag key '${key.slice(0, 130)}' contains '..'; a flag key is [A-Za-z0-9_.-] without '..', so no flag has it`;
  if (!FLAG_KEY_PATTERN.test(key))
    return `flag key '${key.slice(0, 130)}' is not a flag key (1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'), so no flag has it`;
  return undefined;
}

export function createOfrepService(options: OfrepServiceOptions = {}): OfrepService {
  const now = options.now ?? Date.now;
  const heartbeatMs = options.heartbeatMs ?? OFREP_HEARTBEAT_MS;
  const bodyLimit = options.bodyLimit ?? OFREP_BODY_LIMIT;
  const maxStreams = options.maxStreams ?? OFREP_MAX_STREAMS;
  // One evaluator for the life of the service: its usage counters span pushes.
  const evaluator = new FlagEvaluator({ now });
  let state: State | undefined;
  let closed = false;
  const streams = new Set<http.ServerResponse>();
  let heartbeat: NodeJS.Timeout | undefined;

  function update(push: FlagPush): void {
    const tokens: Token[] = push.tokens.map((t) => {
      if (!/^[0-9a-f]{64}$/i.test(t.sha256)) {
        throw new Error(`flag push ${push.generation}: client token '${t.name}' has sha256 '${t.sha256.slice(0, 80)}', not 64 hex digits; nothing changed`);
      }
      return { name: t.name, digest: Buffer.from(t.sha256, 'hex'), ...(t.flags !== undefined && { flags: new Set(t.flags) }) };
    });
    evaluator.load(push.document); // throws (and keeps the old document) when flagd cannot read it
    const etag = sha256(JSON.stringify([push.document, push.tokens]))
      .toString('hex')
      .slice(0, 32);
    const changed = state === undefined || state.etag !== etag;
    state = { push, evaluator, tokens, etag };
    if (changed) announce(push.generation, etag);
  }

  function announce(generation: number, etag: string): void {
    if (streams.size === 0) return;
    const data = JSON.stringify({ type: 'refetchEvaluation', etag, lastModified: Math.floor(now() / 1000) });
    const frame = `event: message\nid: ${generation}\ndata: ${data}\n\n`;
    for (const res of streams) res.write(frame);
  }

  function close(): void {
    closed = true;
    if (heartbeat !== undefined) clearInterval(heartbeat);
    heartbeat = undefined;
    for (const res of streams) res.end();
    streams.clear();
  }

  /** The token's record, or a 401 sent. Every record is compared, in constant time each. */
  /** The flags in effect and the caller's token, or undefined with the refusal sent (503 before a push, 401) and the body left unread. */
  function admit(req: http.IncomingMessage, res: http.ServerResponse): { s: State; token: Token } | undefined {
    const s = ready(req, res);
    if (s === undefined) return undefined;
    const token = authenticate(req, res, s);
    if (token === undefined) {
      req.resume();
      return undefined;
    }
    return { s, token };
  }

  function authenticate(req: http.IncomingMessage, res: http.ServerResponse, s: State): Token | undefined {
    let presented: string | undefined;
    const auth = header(req, 'authorization');
    if (auth !== undefined) {
      const m = /^Bearer +(\S+) *$/i.exec(auth);
      presented = m?.[1];
    }
    presented ??= header(req, 'x-api-key')?.trim() || undefined;
    if (presented === undefined) {
      send(
        res,
        401,
        { errorDetails: 'OFREP: no client token; send Authorization: Bearer <token> (or X-API-Key: <token>) with a client token of this sluice' },
        { 'www-authenticate': 'Bearer' },
      );
      return undefined;
    }
    const digest = sha256(presented);
    let found: Token | undefined;
    for (const t of s.tokens) if (timingSafeEqual(digest, t.digest) && found === undefined) found = t;
    if (found === undefined) {
      send(
        res,
        401,
        { errorDetails: 'OFREP: unknown client token; use a client token of this sluice (the admin token is not one)' },
        { 'www-authenticate': 'Bearer' },
      );
    }
    return found;
  }

  /** The request's evaluation context, or undefined with a 400 sent (or the connection cut). */
  function readContext(req: http.IncomingMessage, res: http.ServerResponse, key: string | undefined, then: (ctx: EvaluationContext) => void): void {
    const failure = (errorCode: string, errorDetails: string, headers?: Record<string, string>) =>
      send(res, 400, key === undefined ? { errorCode, errorDetails } : { key, errorCode, errorDetails }, headers);
    const tooLarge = (): void => {
      failure('INVALID_CONTEXT', `OFREP: request body larger than ${bodyLimit} bytes; send only the evaluation context the flags need`, {
        connection: 'close',
      });
      // The rest is dropped unread; a sender that keeps going past DRAIN_LIMIT is cut off.
      let drained = 0;
      req.removeAllListeners('data');
      req.on('data', (c: Buffer) => {
        drained += c.length;
        if (drained > DRAIN_LIMIT) req.destroy();
      });
      req.resume();
    };
    req.on('error', () => res.destroy());
    readBoundedBody(req, bodyLimit, {
      tooLarge,
      done: (raw) => {
        const text = raw.toString('utf8');
        let body: unknown = {};
        if (text.trim() !== '') {
          try {
            body = JSON.parse(text);
          } catch (e) {
            failure('PARSE_ERROR', `OFREP: the request body is not JSON (${(e as Error).message}); send {"context": {...}}`);
            return;
          }
        }
        if (body === null || typeof body !== 'object' || Array.isArray(body)) {
          failure('INVALID_CONTEXT', `OFREP: the request body must be a JSON object {"context": {...}}, not ${kind(body)}`);
          return;
        }
        const context = 'context' in body ? (body as { context: unknown }).context : {};
        const problem = contextProblem(context);
        if (problem !== undefined) {
          failure('INVALID_CONTEXT', `OFREP: ${problem}; send {"context": {"targetingKey": "...", ...}}`);
          return;
        }
        try {
          then(context as EvaluationContext);
        } catch (e) {
          internal(res, e);
        }
      },
    });
  }

  function single(req: http.IncomingMessage, res: http.ServerResponse, rawKey: string): void {
    let key: string;
    try {
      key = decodeURIComponent(rawKey);
    } catch {
      send(res, 404, {
        key: rawKey,
        errorCode: 'FLAG_NOT_FOUND',
        errorDetails: `flag key '${rawKey.slice(0, 130)}' is not valid percent-encoding, so no flag has it`,
      });
      return;
    }
    const problem = rawKey.includes('/') ? keyProblem(rawKey) : keyProblem(key);
    if (problem !== undefined) {
      req.resume();
      send(res, 404, { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `OFREP: ${problem}` });
      return;
    }
    const admitted = admit(req, res);
    if (admitted === undefined) return;
    const { s, token } = admitted;
    if (token.flags !== undefined && !token.flags.has(key)) {
      req.resume();
      send(res, 403, { key, errorCode: 'GENERAL', errorDetails: `OFREP: client token '${token.name}' may not read flag '${key}'` });
      return;
    }
    readContext(req, res, key, (context) => {
      const r = s.evaluator.evaluate(key, context);
      if (!isFailure(r)) send(res, 200, r);
      else send(res, r.errorCode === 'FLAG_NOT_FOUND' ? 404 : 400, r);
    });
  }

  function bulk(req: http.IncomingMessage, res: http.ServerResponse): void {
    const admitted = admit(req, res);
    if (admitted === undefined) return;
    const { s, token } = admitted;
    readContext(req, res, undefined, (context) => {
      const allowed = token.flags;
      const flags: Evaluation[] = s.evaluator.evaluateAll(context, allowed === undefined ? undefined : (k) => allowed.has(k));
      const body = { flags, metadata: s.push.document.metadata ?? {}, eventStreams: EVENT_STREAMS };
      const text = JSON.stringify(body);
      const etag = quoteEtag(sha256(text).toString('hex').slice(0, 32));
      if (etagMatches(header(req, 'if-none-match'), etag)) {
        res.writeHead(304, { ...CORS, etag, 'cache-control': 'no-cache' });
        res.end();
        return;
      }
      res.writeHead(200, {
        ...CORS,
        etag,
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(text),
        'cache-control': 'no-cache',
      });
      res.end(text);
    });
  }

  function changes(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (closed || streams.size >= maxStreams) {
      send(
        res,
        503,
        {
          errorDetails: closed
            ? 'OFREP: this data plane is shutting down; reconnect shortly'
            : `OFREP: ${maxStreams} change streams are open already; poll the bulk endpoint instead`,
        },
        { 'retry-after': '1' },
      );
      return;
    }
    res.writeHead(200, {
      ...CORS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: 1000\n: sluice OFREP change stream${state !== undefined ? `, flags generation ${state.push.generation}` : ', no flags yet'}\n\n`);
    streams.add(res);
    const drop = (): void => {
      streams.delete(res);
      if (streams.size === 0 && heartbeat !== undefined) {
        clearInterval(heartbeat);
        heartbeat = undefined;
      }
    };
    req.on('close', drop);
    res.on('close', drop);
    if (heartbeat === undefined) {
      heartbeat = setInterval(() => {
        for (const r of streams) r.write(': heartbeat\n\n');
      }, heartbeatMs);
      heartbeat.unref();
    }
  }

  /** The state to evaluate with, or undefined with a 503 sent. */
  function ready(req: http.IncomingMessage, res: http.ServerResponse): State | undefined {
    if (state !== undefined) return state;
    req.resume();
    send(
      res,
      503,
      { errorCode: 'GENERAL', errorDetails: 'OFREP: no flags yet; this data plane has not received flags from the sluice control plane, retry shortly' },
      { 'retry-after': '1' },
    );
    return undefined;
  }

  function route(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    const mounted = options.mounts?.get(path);
    if (mounted !== undefined) {
      if (method === 'OPTIONS') {
        req.resume();
        res.writeHead(204, PREFLIGHT);
        res.end();
      } else if (method !== 'POST') {
        req.resume();
        send(res, 405, { errorDetails: `${method} is not allowed on ${path}; use POST` }, { allow: 'POST, OPTIONS' });
      } else if (admit(req, res) !== undefined) mounted(req, res);
      return;
    }
    const isSingle = path.startsWith(OFREP_SINGLE_PREFIX);
    const known = isSingle || path === OFREP_BULK_PATH || path === OFREP_CHANGES_PATH;
    if (!known) {
      req.resume();
      send(res, 404, {
        errorDetails: `OFREP: no endpoint ${method} ${path.slice(0, 200)}; use POST ${OFREP_SINGLE_PREFIX}{key}, POST ${OFREP_BULK_PATH} or GET ${OFREP_CHANGES_PATH}`,
      });
      return;
    }
    if (method === 'OPTIONS') {
      req.resume();
      res.writeHead(204, PREFLIGHT);
      res.end();
      return;
    }
    const want = path === OFREP_CHANGES_PATH ? 'GET' : 'POST';
    if (method !== want) {
      req.resume();
      send(res, 405, { errorDetails: `OFREP: ${method} is not allowed on ${path}; use ${want}` }, { allow: `${want}, OPTIONS` });
      return;
    }
    if (isSingle) single(req, res, path.slice(OFREP_SINGLE_PREFIX.length));
    else if (path === OFREP_BULK_PATH) bulk(req, res);
    else changes(req, res);
  }

  return {
    handle(req, res) {
      try {
        route(req, res);
      } catch (e) {
        internal(res, e);
      }
    },
    update,
    current: () => state?.push,
    usage: () => evaluator.usage(),
    close,
  };
}

function internal(res: http.ServerResponse, e: unknown): void {
  if (res.headersSent) res.destroy();
  else send(res, 500, { errorDetails: `OFREP: internal error: ${String((e as Error)?.message ?? e).replace(/\s*\n\s*/g, ' ')}` });
}

function kind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`;
}
