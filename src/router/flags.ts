/**
 * Feature flags in the router process: the FlagPush in effect, persisted in
 * <state-dir>/router/flags.json before it is acknowledged and served from the start, and the
 * OFREP listening socket (src/flags/ofrep.ts answers the requests). The router serves flags
 * whichever data plane serves routes, so flags keep answering while the control plane is
 * down or restarting, and a handover passes the socket and the push to the successor.
 */
import type http from 'node:http';
import type net from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { FLAG_KEY_PATTERN, type FlagPush, type FlagUsage } from '../core/flags.js';
import { createOfrepService, type OfrepService } from '../flags/ofrep.js';
import { tryParseHostPort } from '../util/host-port.js';
import { FLAGS_FILE, MAX_GENERATION_STEP, type FlagApplyAnswer } from './admin-protocol.js';
import { ListenerServer, type ListenerHandler } from './listeners.js';
import { readJsonFile, writeFileAtomic } from './persist.js';
import { RouteTableError } from './validate.js';

export interface RouterFlagsOptions {
  stateDir: string;
  drainTimeoutMs: number;
  log?: (line: string) => void;
  /** Where the OFREP service comes from; the router's is src/flags/ofrep.ts. */
  createService?: () => OfrepService;
}

/** The push a router that never got one reports (GET /flags). */
export function emptyFlagPush(): FlagPush {
  return { generation: 0, listen: '', document: { flags: {} }, tokens: [] };
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * OFREP clients are SDKs, most on fetch (undici), which pools connections and does not retry
 * a POST whose reused connection closed under it. The OFREP listener therefore announces
 * `Keep-Alive: timeout=5` (undici closes an idle connection 1–2 s before that), and during a
 * handover the old router keeps an idle connection longer than that: the client closes it, or
 * uses it and is answered with `Connection: close`. Closing it from this side after a short
 * grace lost an evaluation whenever a client picked that connection as the FIN was on its way.
 */
const OFREP_LISTENER = { keepAliveMs: 5000, handoverIdleGraceMs: 6000 } as const;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Checks the shape of a push (what the router itself relies on); the flags' targeting is the
 * OFREP service's to judge (its update throws). Throws RouteTableError 400 with one line.
 */
export function validateFlagPush(input: unknown): FlagPush {
  const bad = (what: string): never => {
    throw new RouteTableError(`flag push: ${what}`, 400);
  };
  if (!isObject(input)) bad('body must be a JSON object {generation, listen, document, tokens}');
  const p = input as Record<string, unknown>;
  const extra = Object.keys(p).filter((k) => !['generation', 'listen', 'document', 'tokens'].includes(k));
  if (extra.length > 0) bad(`unknown field(s) ${extra.map((k) => JSON.stringify(k.slice(0, 50))).join(', ')}; known: generation, listen, document, tokens`);
  if (typeof p.generation !== 'number' || !Number.isSafeInteger(p.generation) || p.generation < 1)
    bad(`"generation" must be a whole number from 1 (got ${JSON.stringify(p.generation)})`);
  if (typeof p.listen !== 'string' || tryParseHostPort(p.listen) === undefined)
    bad(`"listen" must be host:port, e.g. "127.0.0.1:7071" (got ${JSON.stringify(p.listen)?.slice(0, 80)})`);
  if (!isObject(p.document) || !isObject(p.document.flags)) bad('"document" must be a flagd document {flags: {KEY: {state, variants, defaultVariant}}}');
  const doc = p.document as Record<string, unknown>;
  for (const [key, flag] of Object.entries(doc.flags as Record<string, unknown>)) {
    const at = `document.flags[${JSON.stringify(key.slice(0, 130))}]`;
    if (!FLAG_KEY_PATTERN.test(key)) bad(`${at}: a flag key is 1-128 of [A-Za-z0-9_.-], no "/" nor ".."; rename the flag`);
    if (!isObject(flag)) bad(`${at}: must be an object {state, variants, defaultVariant}`);
    const f = flag as Record<string, unknown>;
    if (f.state !== 'ENABLED' && f.state !== 'DISABLED') bad(`${at}.state: must be "ENABLED" or "DISABLED"`);
    if (!isObject(f.variants) || Object.keys(f.variants).length === 0) bad(`${at}.variants: must be an object with at least one variant`);
    if (f.defaultVariant !== null && (typeof f.defaultVariant !== 'string' || !Object.hasOwn(f.variants as object, f.defaultVariant)))
      bad(`${at}.defaultVariant: ${JSON.stringify(f.defaultVariant)} is not one of its variants (${Object.keys(f.variants as object).join(', ')})`);
    if (f.metadata !== undefined && !isObject(f.metadata)) bad(`${at}.metadata: must be an object`);
  }
  if (doc.$evaluators !== undefined && !isObject(doc.$evaluators)) bad('document.$evaluators: must be an object');
  if (doc.metadata !== undefined && !isObject(doc.metadata)) bad('document.metadata: must be an object');
  if (!Array.isArray(p.tokens)) bad('"tokens" must be an array of {name, sha256, flags?}');
  (p.tokens as unknown[]).forEach((t, i) => {
    const at = `tokens[${i}]`;
    if (!isObject(t)) bad(`${at}: must be an object {name, sha256, flags?}`);
    const r = t as Record<string, unknown>;
    if (typeof r.name !== 'string' || r.name === '') bad(`${at}.name: must be a non-empty string`);
    if (typeof r.sha256 !== 'string' || !SHA256_HEX.test(r.sha256)) bad(`${at}.sha256: must be the token's sha256 in 64 lower-case hex digits`);
    if (r.flags !== undefined && (!Array.isArray(r.flags) || r.flags.some((k) => typeof k !== 'string'))) bad(`${at}.flags: must be an array of flag keys`);
  });
  return input as unknown as FlagPush;
}

/** An OFREP socket's requests go to the service in effect. */
class OfrepHandler implements ListenerHandler {
  constructor(private readonly service: () => OfrepService | undefined) {}

  handleRequest(_listen: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    const service = this.service();
    if (service === undefined) {
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"errorCode":"GENERAL","errorDetails":"no flags pushed yet"}');
      return;
    }
    service.handle(req, res);
  }

  handleUpgrade(_listen: string, _req: http.IncomingMessage, socket: Socket): void {
    socket.destroy();
  }
}

/**
 * The router's flags: push in effect, OFREP service and its one listening socket. Pushes
 * run one at a time; during a handover (freeze → retire or thaw) they are refused (503).
 */
export class RouterFlags {
  readonly flagsFile: string;
  private push: FlagPush | undefined;
  private service: OfrepService | undefined;
  /** The OFREP socket serving, and its address (may lag push.listen when a move failed). */
  private server: ListenerServer | undefined;
  private readonly handler = new OfrepHandler(() => this.service);
  private readonly createService: () => OfrepService;
  private readonly log: (line: string) => void;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private handingOver = false;
  private takeover: { release: () => void } | undefined;

  constructor(private readonly opts: RouterFlagsOptions) {
    this.flagsFile = join(opts.stateDir, 'router', FLAGS_FILE);
    this.createService = opts.createService ?? (() => createOfrepService());
    this.log = opts.log ?? (() => {});
  }

  /** The push in effect (an empty one, generation 0, before any). */
  get current(): FlagPush {
    return this.push ?? emptyFlagPush();
  }

  /** Where OFREP listens now, if anywhere. */
  get listening(): string | undefined {
    return this.server?.listening ? this.server.listen : undefined;
  }

  usage(): FlagUsage[] {
    return this.service?.usage() ?? [];
  }

  /** Serves the push a previous run persisted, at once. Never fatal: logged. */
  async start(): Promise<void> {
    let saved: unknown;
    try {
      saved = await readJsonFile(this.flagsFile);
    } catch (e) {
      this.log(`ignoring unreadable ${this.flagsFile}: ${(e as Error).message}; serving no flags`);
      return;
    }
    if (saved === undefined) return;
    let push: FlagPush;
    try {
      push = validateFlagPush(saved);
      this.install(push);
    } catch (e) {
      this.log(`ignoring invalid ${this.flagsFile}: ${(e as Error).message}; serving no flags`);
      return;
    }
    try {
      await this.openAt(push.listen);
    } catch (e) {
      this.log(`${(e as Error).message}; OFREP will retry at the next flag push`);
    }
    this.log(`loaded flags generation ${push.generation} (${Object.keys(push.document.flags).length} flag(s)) from ${this.flagsFile}`);
  }

  /** PUT /flags: validate, open the address, persist, serve. One at a time. */
  apply(input: unknown): Promise<FlagApplyAnswer> {
    const run = this.queue.then(() => this.applyNow(input));
    this.queue = run.catch(() => {});
    return run;
  }

  private async applyNow(input: unknown): Promise<FlagApplyAnswer> {
    const current = this.current.generation;
    if (this.closed) throw new RouteTableError('router is shutting down', 409, current);
    if (this.handingOver) throw new RouteTableError('router is handing over to a new router process; retry in a moment', 503);
    const push = validateFlagPush(input);
    if (push.generation < current)
      throw new RouteTableError(`flag push generation ${push.generation} is older than generation ${current} in effect`, 409, current);
    if (push.generation > current + MAX_GENERATION_STEP)
      throw new RouteTableError(
        `flag push generation ${push.generation} jumps more than ${MAX_GENERATION_STEP} past generation ${current} in effect; continue from ${current + 1}`,
        409,
        current,
      );
    // The service judges the flags (targeting, evaluators) on a scratch instance: a refusal changes nothing.
    try {
      const probe = this.createService();
      probe.update(push);
      probe.close();
    } catch (e) {
      throw new RouteTableError(`flag push: ${(e as Error).message}`, 400);
    }
    const previous = this.server;
    let opened: ListenerServer | undefined;
    let failed: FlagApplyAnswer['failed'];
    if (previous === undefined || previous.listen !== push.listen || !previous.listening) {
      try {
        opened = await this.openServer(push.listen);
      } catch (e) {
        failed = { listen: push.listen, error: (e as Error).message };
      }
    }
    try {
      await writeFileAtomic(this.flagsFile, JSON.stringify(push, null, 2) + '\n');
    } catch (e) {
      if (opened !== undefined) void opened.close(0);
      throw new RouteTableError(`cannot save flags to ${this.flagsFile}: ${(e as Error).message}`, 500);
    }
    this.install(push);
    if (opened !== undefined) {
      this.server = opened;
      this.log(`OFREP listening on ${push.listen}`);
      if (previous !== undefined) void this.closeServer(previous, this.opts.drainTimeoutMs);
    }
    if (failed !== undefined)
      this.log(`${failed.error}; OFREP ${previous?.listening ? `stays on ${previous.listen}` : 'serves nowhere'} and retries at the next flag push`);
    return { generation: push.generation, listening: this.listening, ...(failed !== undefined ? { failed } : {}) };
  }

  private install(push: FlagPush): void {
    this.service ??= this.createService();
    this.service.update(push);
    this.push = push;
  }

  private async openServer(listen: string): Promise<ListenerServer> {
    const server = new ListenerServer(listen, this.handler, OFREP_LISTENER);
    await server.open();
    return server;
  }

  private async openAt(listen: string): Promise<void> {
    this.server = await this.openServer(listen);
    this.log(`OFREP listening on ${listen}`);
  }

  private async closeServer(server: ListenerServer, drainMs: number): Promise<void> {
    await server.close(drainMs);
    this.log(`OFREP stopped listening on ${server.listen}`);
  }

  // ---- handover (src/router/main.ts) ----

  /** Old side: waits for the push in progress, then refuses pushes. The push to hand on. */
  async freeze(): Promise<FlagPush | undefined> {
    this.handingOver = true;
    await this.queue;
    return this.push;
  }

  thaw(): void {
    this.handingOver = false;
  }

  /** Old side: the OFREP socket to pass on. */
  listeningServer(): [string, net.Server] | undefined {
    return this.server?.listening ? [this.server.listen, this.server.handle] : undefined;
  }

  /**
   * Old side, once the successor serves: ends change streams (their clients reconnect to
   * the successor), answers what is in flight with `Connection: close`, closes idle
   * connections after the grace (ConnectionTracker.retire).
   */
  async retire(drainMs: number, idleGraceMs: number): Promise<void> {
    this.closed = true;
    this.service?.close();
    const server = this.server;
    this.server = undefined;
    await server?.retire(drainMs, idleGraceMs);
  }

  /** New side: serve the predecessor's push at once; pushes wait until finishTakeover(). */
  prepareTakeover(push: unknown, listen: string | undefined): void {
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    this.queue = this.queue.then(() => held);
    this.takeover = { release };
    if (push !== undefined) this.install(validateFlagPush(push));
    const at = listen ?? this.push?.listen;
    if (at !== undefined) this.server = new ListenerServer(at, this.handler, OFREP_LISTENER);
  }

  /** New side: accept on the predecessor's OFREP socket. Synchronous. */
  adoptListener(listen: string, received: net.Server): boolean {
    if (this.takeover === undefined || this.server === undefined || this.server.listen !== listen || this.server.listening) return false;
    this.server.adopt(received);
    return true;
  }

  /** New side: binds the OFREP address when no socket came, lets pushes in. */
  async finishTakeover(): Promise<void> {
    const t = this.takeover;
    if (t === undefined) return;
    if (this.server !== undefined && !this.server.listening) {
      try {
        await this.server.open();
      } catch (e) {
        this.server = undefined;
        this.log(`${(e as Error).message}; OFREP will retry at the next flag push`);
      }
    }
    this.takeover = undefined;
    t.release();
  }

  /** Shutdown: ends change streams, lets OFREP requests finish, then closes. */
  async close(drainMs: number): Promise<void> {
    this.closed = true;
    await this.queue;
    this.service?.close();
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await this.closeServer(server, drainMs);
  }
}
