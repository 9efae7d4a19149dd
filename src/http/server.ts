/**
 * The small JSON-over-HTTP layer every sluice server shares (the control-plane API, the
 * router's admin API; later the dashboard and the flag server): a router of method + path
 * pattern → handler, bounded body reading, JSON replies, and the checks that run before a
 * handler: Host (DNS rebinding), Origin (no web page of another site), bearer token, JSON
 * content type. Plain node:http on purpose: the router's admin API runs in the data-plane
 * process and its hot paths must stay cheap (docs/architecture.md, "HTTP").
 *
 * Every error answer has the one shape {error, code} (plus fields a route adds, e.g. the
 * generation of a 409): `error` is one line, `code` is stable for clients to branch on.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { UserError } from '../util/errors.js';
import { tryParseHostPort } from '../util/host-port.js';

export interface ErrorBody {
  error: string;
  code: string;
  [field: string]: unknown;
}

/** A refusal a handler throws: its status, a one-line message, a code, and fields or headers to add. */
export class HttpError extends UserError {
  constructor(
    status: number,
    message: string,
    code: string,
    readonly fields: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(oneLine(message), code, status);
    this.name = 'HttpError';
  }
}

export type Reply =
  | { status?: number; headers?: Record<string, string>; body: unknown }
  | { status?: number; headers?: Record<string, string>; text: string; type: string }
  /** The handler answers on ctx.res itself (a server-sent event stream). */
  | { taken: true };

export type Handler = (ctx: RequestContext) => Reply | Promise<Reply>;

export interface RouteOptions {
  /** Answered without the bearer token (health checks). Host and Origin are still checked. */
  public?: boolean;
  /** What the caller's roles must allow (`JsonServerOptions.auth.authorize` decides); by default GET/HEAD need `viewer`, the rest `deployer`. */
  need?: string;
}

/** Who sent a request, as the bearer token says (api/ maps tokens to callers). */
export interface Caller {
  user: string;
  roles: readonly string[];
  /** The named token's id; absent for the state directory's admin token. */
  tokenId?: string;
  /** Signed in through a browser session cookie rather than an Authorization header. */
  session?: boolean;
}

interface Route {
  handler: Handler;
  public: boolean;
  need: string;
}

/** What a route needs when it does not say: reads `viewer`, changes `deployer`. */
export function defaultNeed(method: string): string {
  return method === 'GET' || method === 'HEAD' ? 'viewer' : 'deployer';
}

interface PatternRoute {
  pattern: string;
  re: RegExp;
  names: string[];
  methods: Map<string, Route>;
}

/** A route and its parameters still percent-encoded: they are decoded only once the request passed the checks. */
type Match = { route: Route; names: readonly string[]; values: string[] } | { allowed: string[] } | undefined;

/**
 * Method + path → handler. A pattern's `:name` segment matches one path segment, handed to
 * the handler decoded in ctx.params. A path without parameters is one Map lookup (the admin
 * API's hot paths all are); patterns are tried in the order they were added.
 */
export class Routes {
  private readonly exact = new Map<string, Map<string, Route>>();
  private readonly patterns: PatternRoute[] = [];

  add(methods: string | readonly string[], pattern: string, handler: Handler, options: RouteOptions = {}): this {
    if (!pattern.startsWith('/')) throw new Error(`route pattern ${pattern}: must start with "/"`);
    const names: string[] = [];
    const source = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:([A-Za-z][A-Za-z0-9]*)/g, (_, name: string) => (names.push(name), '([^/]+)'));
    let table: Map<string, Route>;
    if (names.length === 0) {
      table = this.exact.get(pattern) ?? new Map();
      this.exact.set(pattern, table);
    } else {
      let p = this.patterns.find((x) => x.pattern === pattern);
      if (p === undefined) {
        p = { pattern, re: new RegExp(`^${source}$`), names, methods: new Map() };
        this.patterns.push(p);
      }
      table = p.methods;
    }
    for (const method of typeof methods === 'string' ? [methods] : methods) {
      if (table.has(method)) throw new Error(`route ${method} ${pattern} is defined twice`);
      table.set(method, { handler, public: options.public === true, need: options.need ?? defaultNeed(method) });
    }
    return this;
  }

  /** The route for method + path, or the methods the path allows (405), or undefined (404). */
  match(method: string, path: string): Match {
    const exact = this.exact.get(path);
    if (exact !== undefined) {
      const route = exact.get(method);
      return route !== undefined ? { route, names: [], values: [] } : { allowed: [...exact.keys()] };
    }
    const allowed: string[] = [];
    for (const p of this.patterns) {
      const m = p.re.exec(path);
      if (m === null) continue;
      const route = p.methods.get(method);
      if (route === undefined) {
        allowed.push(...p.methods.keys());
        continue;
      }
      return { route, names: p.names, values: m.slice(1) };
    }
    return allowed.length > 0 ? { allowed: [...new Set(allowed)] } : undefined;
  }
}

/** What a Host header (or an http origin) may name: loopback, `names`, and with `anyIpLiteral` any IP address; on `port`. */
export interface HostPolicy {
  port: number;
  names: readonly (string | undefined)[];
  /** Bound to every interface: any IP literal is this server (a DNS-rebinding attack needs a name). */
  anyIpLiteral?: boolean;
}

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '::1']);

/** Whether `authority` (`host[:port]`, the port defaulting to `defaultPort`) names this server. */
export function hostAllowed(authority: string | undefined, policy: HostPolicy, defaultPort = 80): boolean {
  if (authority === undefined) return false;
  const a = tryParseHostPort(authority.trim().toLowerCase(), { defaultPort });
  if (a === undefined || a.port !== policy.port) return false;
  if (LOOPBACK_NAMES.has(a.host)) return true;
  for (const name of policy.names) if (name !== undefined && a.host === plainHost(name)) return true;
  return policy.anyIpLiteral === true && isIP(a.host) !== 0;
}

/** A host as a Host header would carry it: lower case, no brackets, an IPv4-mapped IPv6 address as IPv4. */
function plainHost(host: string): string {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h.startsWith('::ffff:') && h.includes('.') ? h.slice(7) : h;
}

export interface JsonServerOptions {
  routes: Routes;
  /** Starts every refusal message, e.g. "admin API". */
  name: string;
  /** Who this server is to the Host header, e.g. "this router's admin address". */
  self: string;
  /** The names and port the Host header must carry, per request (a server may learn its port only once listening). */
  host(req: IncomingMessage): HostPolicy;
  /**
   * `refuse`: any Origin header is refused, no web page may call this server. `same`: a page
   * of this server's own http origin may (the dashboard); any other origin is refused.
   */
  origin: 'refuse' | 'same';
  /** Who a bearer token is (every route but the public ones needs one) and what they may do. */
  auth: JsonAuth;
  /** Called once per request when its answer went out (or the connection closed): the audit log's hook. */
  onFinish?(done: FinishedRequest): void;
  /** Largest request body read, in bytes; a longer one is answered 413. */
  bodyLimit: number;
  /** The 404 message. */
  notFound(method: string, path: string): string;
  /** Runs after the checks, before the route: an error to answer instead (the old router after a handover). */
  guard?(req: IncomingMessage): HttpError | undefined;
  /** Applied to every error message before it is sent (secrets). */
  redact?(text: string): string;
  /** Called with an error that is not a UserError (a bug or an outage) before the 500 goes out. */
  onInternalError?(req: IncomingMessage, err: unknown): void;
}

/** Authentication and authorization of a JsonServer. */
export interface JsonAuth {
  /** The caller a bearer token names (undefined: no Authorization header), or the 401's one-line message (say where a caller finds a token). */
  authenticate(bearer: string | undefined): Caller | { refused: string };
  /** Why `caller` may not use a route needing `need` (the 403's message), or undefined; absent: any caller may. */
  authorize?(caller: Caller, need: string, method: string, path: string): string | undefined;
  /**
   * A request without an Authorization header: the caller its session cookie names, a
   * refusal (401; `status` 403 for a missing CSRF token), or undefined when it carries no
   * session (then it is refused as a missing token).
   */
  session?(req: IncomingMessage, method: string): Caller | { refused: string; status?: 401 | 403; code?: string } | undefined;
}

/** A request once answered: what onFinish sees. */
export interface FinishedRequest {
  req: IncomingMessage;
  method: string;
  /** The path without its query. */
  path: string;
  status: number;
  /** Absent when the token was refused (or the route is public). */
  caller?: Caller;
  /** The error message answered, when the answer is an error. */
  error?: string;
}

/** One bearer token that is everything (the router's admin API): compared timing-safe. */
export function singleTokenAuth(token: string, refused: (why: 'missing' | 'wrong') => string, user = 'admin'): JsonAuth {
  // Digests compared: neither the token's content nor its length leaks through timing.
  const tokenDigest = digest(token);
  const caller: Caller = { user, roles: ['admin'] };
  return {
    authenticate: (bearer) =>
      bearer !== undefined && timingSafeEqual(digest(bearer), tokenDigest) ? caller : { refused: refused(bearer === undefined ? 'missing' : 'wrong') },
  };
}

/** One request as a handler sees it. */
export class RequestContext {
  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly method: string,
    readonly path: string,
    readonly url: URL,
    readonly params: Record<string, string>,
    private readonly bodyLimit: number,
    /** Who the bearer token names; absent on public routes. */
    readonly caller?: Caller,
  ) {}

  /** The body as text; over the limit: HttpError 413 once the rest has been read and dropped (so the answer reaches the client). */
  text(): Promise<string> {
    const { req, bodyLimit, method, path } = this;
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= bodyLimit) chunks.push(c);
      });
      req.on('end', () => {
        if (size > bodyLimit) reject(new HttpError(413, `${method} ${path}: request body larger than ${bodyLimit} bytes`, 'too-large'));
        else resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
      });
      req.on('error', reject);
    });
  }

  /** The body parsed as JSON; a blank body is `whenEmpty` if given, else a 400 like any text that is not JSON. */
  async json(whenEmpty?: unknown): Promise<unknown> {
    const text = await this.text();
    if (whenEmpty !== undefined && text.trim() === '') return whenEmpty;
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new HttpError(400, `${this.method} ${this.path}: invalid JSON body: ${(e as Error).message}`, 'bad-json');
    }
  }

  /** The body as a JSON object ({} when blank). */
  async jsonObject(): Promise<Record<string, unknown>> {
    const value = await this.json({});
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new HttpError(400, `${this.method} ${this.path}: the JSON body must be an object`, 'bad-request');
    }
    return value as Record<string, unknown>;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string, type: string, headers?: Record<string, string>): void {
  res.writeHead(status, { ...headers, 'content-type': type, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The request handler for http.createServer: checks, route, reply, and every error as {error, code}. */
export function jsonHandler(options: JsonServerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { routes, name, bodyLimit } = options;
  const redact = options.redact ?? ((s: string) => s);

  /** Why this request must not reach a handler, or undefined; `seen.caller` is set once the token passed. */
  function refusal(req: IncomingMessage, path: string, method: string, match: Match, seen: { caller?: Caller }): HttpError | undefined {
    const policy = options.host(req);
    const host = header(req, 'host');
    if (!hostAllowed(host, policy)) {
      return new HttpError(
        403,
        `${name}: Host "${(host ?? '').slice(0, 100)}" is not ${options.self}; use 127.0.0.1:${policy.port} or localhost:${policy.port}`,
        'forbidden-host',
      );
    }
    const origin = header(req, 'origin');
    if (origin !== undefined) {
      if (options.origin === 'refuse') return new HttpError(403, `${name}: requests from a web page (Origin header) are refused`, 'forbidden-origin');
      if (!sameOrigin(origin, policy)) {
        return new HttpError(
          403,
          `${name}: cross-origin request from "${origin.slice(0, 100)}" refused; only this server's own origin may call it`,
          'forbidden-origin',
        );
      }
    }
    if (match === undefined || 'allowed' in match || !match.route.public) {
      const authorization = header(req, 'authorization');
      const m = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
      const bySession = authorization === undefined ? options.auth.session?.(req, method) : undefined;
      if (bySession !== undefined && 'refused' in bySession) {
        const status = bySession.status ?? 401;
        return new HttpError(status, bySession.refused, bySession.code ?? (status === 401 ? 'unauthorized' : 'forbidden'));
      }
      const who = bySession ?? options.auth.authenticate(m?.[1]);
      if ('refused' in who) return new HttpError(401, who.refused, 'unauthorized', {}, { 'www-authenticate': 'Bearer' });
      seen.caller = who;
    }
    // A cross-site form or text/plain fetch can send any other type without a CORS preflight.
    const length = header(req, 'content-length');
    if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) {
      const type = (header(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json') {
        return new HttpError(
          415,
          `${name}: a request body must be Content-Type: application/json, not "${type.slice(0, 100) || 'none'}"`,
          'unsupported-media-type',
        );
      }
    }
    if (match === undefined) return new HttpError(404, options.notFound(method, path), 'no-route');
    if ('allowed' in match) {
      const allowed = match.allowed.join(', ');
      return new HttpError(405, `${method} is not allowed on ${path}; use ${allowed}`, 'method-not-allowed', {}, { allow: allowed });
    }
    if (seen.caller !== undefined && options.auth.authorize !== undefined) {
      const why = options.auth.authorize(seen.caller, match.route.need, method, path);
      if (why !== undefined) return new HttpError(403, why, 'forbidden');
    }
    return options.guard?.(req);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, seen: { caller?: Caller; error?: string }): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sluice.invalid');
    const method = req.method ?? 'GET';
    const raw = url.pathname;
    const path = raw.length > 1 && raw.endsWith('/') ? raw.replace(/\/+$/, '') || '/' : raw;
    const match = routes.match(method, path);
    const refused = refusal(req, path, method, match, seen);
    if (refused !== undefined) throw refused;
    const { route, names, values } = match as Exclude<Match, { allowed: string[] } | undefined>;
    const params: Record<string, string> = {};
    for (const [i, name] of names.entries()) {
      try {
        params[name] = decodeURIComponent(values[i]!);
      } catch {
        throw new HttpError(400, `${method} ${path}: the ${name} in the path is not valid percent-encoding`, 'bad-path');
      }
    }
    const reply = await route.handler(new RequestContext(req, res, method, path, url, params, bodyLimit, seen.caller));
    if ('taken' in reply) return;
    if ('text' in reply) sendText(res, reply.status ?? 200, reply.text, reply.type, reply.headers);
    else sendJson(res, reply.status ?? 200, reply.body, reply.headers);
  }

  return (req, res) => {
    const seen: { caller?: Caller; error?: string } = {};
    if (options.onFinish !== undefined) {
      const onFinish = options.onFinish;
      res.once('close', () => {
        let path = '/';
        try {
          path = new URL(req.url ?? '/', 'http://sluice.invalid').pathname;
        } catch {}
        // An answer cut off before its head went out is recorded as what the client saw: nothing (0).
        const status = res.headersSent ? res.statusCode : 0;
        try {
          onFinish({
            req,
            method: req.method ?? 'GET',
            path,
            status,
            ...(seen.caller ? { caller: seen.caller } : {}),
            ...(seen.error ? { error: seen.error } : {}),
          });
        } catch (err) {
          options.onInternalError?.(req, err);
        }
      });
    }
    handle(req, res, seen).catch((err: unknown) => {
      seen.error = redact(oneLine((err as Error)?.message || String(err)));
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // Drain what is left of the body so that the answer reaches the client.
      req.resume();
      if (err instanceof UserError) {
        const e = err as UserError & Partial<Pick<HttpError, 'fields' | 'headers'>>;
        sendJson(res, e.status, { ...e.fields, error: redact(oneLine(e.message)), code: e.code } satisfies ErrorBody, e.headers);
        return;
      }
      options.onInternalError?.(req, err);
      sendJson(res, 500, { error: redact(oneLine((err as Error)?.message || String(err))), code: 'internal' } satisfies ErrorBody);
    });
  };
}

/** An Origin is this server's own when it is http: and its authority passes the Host policy. */
function sameOrigin(origin: string, policy: HostPolicy): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  return url.protocol === 'http:' && hostAllowed(url.host, policy);
}

export function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}
