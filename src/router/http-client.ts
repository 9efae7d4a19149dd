import http from 'node:http';
import type { ExperimentRecordBatch } from '../core/experiment.js';
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.js';
import { tryParseHostPort } from '../util/host-port.js';
import type { FlagPush } from '../core/flags.js';
import {
  DEFAULT_ROUTER_ADMIN,
  SUCCESSOR_HEADER,
  type ApplyAnswer,
  type FlagApplyAnswer,
  type FlagUsageAnswer,
  type HandoverOptions,
  type HandoverResult,
  type RouterIdentity,
} from './admin-protocol.js';
import { ensureAdminToken } from './credential.js';
import type { MismatchRecord } from './mirror.js';
import type { ApplyOutcome, RevisionSampleList, RevisionTraffic, TrafficRouter, WindowStats } from '../core/traffic-router.js';
import type { ListenerRole, RouteTable } from '../core/route-table.js';

/** Admin calls other than waitIdle should answer at once; this only catches a wedged router. */
const ADMIN_TIMEOUT_MS = 15_000;
/** POST /handover waits for a new process to start (each of its steps is bounded at 15 s). */
const HANDOVER_TIMEOUT_MS = 60_000;

interface AdminAnswer {
  status: number;
  body: string;
}

/** Where a router's admin API is and the credential it takes. */
interface AdminTarget {
  host: string;
  port: number;
  admin: string;
  token: string;
}

/** TrafficRouter over the builtin router's admin API (src/router/admin-protocol.ts). */
export class HttpTrafficRouter implements TrafficRouter {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  private readonly target: AdminTarget;

  /** `token`: the one in <state-dir>/router/admin-token (credential.ts). */
  constructor(
    readonly admin: string,
    token: string,
  ) {
    const addr = tryParseHostPort(admin);
    if (addr === undefined) throw new UserError(`router admin address ${admin}: must be host:port`);
    this.target = { ...addr, admin, token };
  }

  async apply(table: RouteTable): Promise<ApplyOutcome> {
    const r = await this.call('PUT', '/routes', JSON.stringify(table));
    if (r.status !== 200) throw this.refused('PUT /routes', r);
    return { failed: (JSON.parse(r.body) as Partial<ApplyAnswer>).failed ?? [] };
  }

  async generationInEffect(): Promise<number> {
    return (await this.identity()).generation;
  }

  /** Who the router is (GET /identity). */
  async identity(): Promise<RouterIdentity> {
    const r = await this.call('GET', '/identity');
    if (r.status !== 200) throw this.refused('GET /identity', r);
    return JSON.parse(r.body) as RouterIdentity;
  }

  async waitIdle(endpointId: string, timeoutMs: number): Promise<boolean> {
    const path = `/endpoints/${encodeURIComponent(endpointId)}/idle?timeoutMs=${Math.max(0, Math.round(timeoutMs))}`;
    const r = await this.call('GET', path, undefined, timeoutMs + ADMIN_TIMEOUT_MS);
    if (r.status !== 200) throw this.refused('GET /endpoints/:id/idle', r);
    return (JSON.parse(r.body) as { idle: boolean }).idle;
  }

  async traffic(): Promise<RevisionTraffic[]> {
    const r = await this.call('GET', '/traffic');
    if (r.status !== 200) throw this.refused('GET /traffic', r);
    // A router from before exposures were counted sends no newUsers.
    return (JSON.parse(r.body) as RevisionTraffic[]).map((t) => ({ ...t, newUsers: t.newUsers ?? 0 }));
  }

  /** The last mismatches of mirrored copies of a rollout's shadow revision(s), newest first. */
  async mismatches(rollout: string, revision?: number): Promise<MismatchRecord[]> {
    const q = new URLSearchParams({ rollout });
    if (revision !== undefined) q.set('revision', String(revision));
    const r = await this.call('GET', `/mismatches?${q.toString()}`);
    if (r.status !== 200) throw this.refused('GET /mismatches', r);
    return (JSON.parse(r.body) as { mismatches: MismatchRecord[] }).mismatches;
  }

  /** Aggregates over one revision's requests that ended at or after sinceMs (epoch ms). */
  async window(rollout: string, revision: number, sinceMs: number, role?: ListenerRole): Promise<WindowStats> {
    const r = await this.call('GET', `/window?${sampleQuery(rollout, revision, sinceMs, undefined, role)}`);
    if (r.status !== 200) throw this.refused('GET /window', r);
    return JSON.parse(r.body) as WindowStats;
  }

  /** One revision's most recent per-request samples since sinceMs, at most `max` (router default 5000). */
  async samples(rollout: string, revision: number, sinceMs: number, max?: number, role?: ListenerRole): Promise<RevisionSampleList> {
    const r = await this.call('GET', `/samples?${sampleQuery(rollout, revision, sinceMs, max, role)}`);
    if (r.status !== 200) throw this.refused('GET /samples', r);
    return JSON.parse(r.body) as RevisionSampleList;
  }

  /** The table in effect. */
  async routes(): Promise<RouteTable> {
    const r = await this.call('GET', '/routes');
    if (r.status !== 200) throw this.refused('GET /routes', r);
    return JSON.parse(r.body) as RouteTable;
  }

  /**
   * PUT /flags: resolves once the router persisted the push and serves it, with where OFREP
   * listens and the address it could not open, if any. 409 (older generation) rejects with
   * a UserError whose `generation` field is the one in effect.
   */
  async pushFlags(push: FlagPush): Promise<FlagApplyAnswer> {
    const r = await this.call('PUT', '/flags', JSON.stringify(push));
    if (r.status !== 200) {
      const e = this.refused('PUT /flags', r);
      try {
        const generation = (JSON.parse(r.body) as { generation?: unknown }).generation;
        if (typeof generation === 'number') Object.assign(e, { generation });
      } catch {
        // not JSON
      }
      throw e;
    }
    return JSON.parse(r.body) as FlagApplyAnswer;
  }

  /** GET /flags: the push in effect (generation 0 before any). */
  async flags(): Promise<FlagPush> {
    const r = await this.call('GET', '/flags');
    if (r.status !== 200) throw this.refused('GET /flags', r);
    return JSON.parse(r.body) as FlagPush;
  }

  /** GET /flags/usage: counters since the router process started, and its instanceId. */
  async flagUsage(): Promise<FlagUsageAnswer> {
    const r = await this.call('GET', '/flags/usage');
    if (r.status !== 200) throw this.refused('GET /flags/usage', r);
    return JSON.parse(r.body) as FlagUsageAnswer;
  }

  /** Prometheus text. */
  async metrics(): Promise<string> {
    const r = await this.call('GET', '/metrics');
    if (r.status !== 200) throw this.refused('GET /metrics', r);
    return r.body;
  }

  /** Asks the router to stop accepting, drain and exit. */
  async shutdown(): Promise<void> {
    const r = await this.call('POST', '/shutdown');
    if (r.status !== 200) throw this.refused('POST /shutdown', r);
  }

  /**
   * Restarts the router process without closing its sockets (POST /handover): resolves with
   * the old and new pids once the new process serves; the old one then drains and exits.
   * Rejects in one line when the new process failed, and the old one keeps serving.
   */
  async restart(options: HandoverOptions = {}): Promise<HandoverResult> {
    // A fresh connection and no retry: unlike the other calls, this one is not idempotent.
    const r = await adminRequest(this.target, 'POST', '/handover', JSON.stringify(options), HANDOVER_TIMEOUT_MS, false, true);
    if (r.status !== 200) {
      let message = r.body;
      try {
        message = (JSON.parse(r.body) as { error?: string }).error ?? r.body;
      } catch {
        // not JSON: keep the raw text
      }
      throw new UserError(`router restart failed: ${message}`, r.status === 409 ? 'conflict' : 'router-restart-failed', r.status === 409 ? 409 : 502);
    }
    return JSON.parse(r.body) as HandoverResult;
  }

  /** The experiment journal's records after `after` (GET /experiments/records). */
  async experimentRecords(after: number, max?: number): Promise<ExperimentRecordBatch> {
    const q = new URLSearchParams({ after: String(after) });
    if (max !== undefined) q.set('max', String(max));
    const r = await this.call('GET', `/experiments/records?${q}`);
    if (r.status !== 200) throw this.refused('GET /experiments/records', r);
    return JSON.parse(r.body) as ExperimentRecordBatch;
  }

  /** Records ≤ upTo of journal `journal` are applied: the router may drop them (POST /experiments/ack). */
  async ackExperimentRecords(journal: string, upTo: number): Promise<void> {
    const r = await this.call('POST', '/experiments/ack', JSON.stringify({ journal, upTo }));
    if (r.status !== 200) throw this.refused('POST /experiments/ack', r);
  }

  close(): void {
    this.agent.destroy();
  }

  private refused(what: string, r: AdminAnswer): UserError {
    let message = r.body;
    try {
      message = (JSON.parse(r.body) as { error?: string }).error ?? r.body;
    } catch {
      // not JSON: keep the raw text
    }
    return new UserError(`router admin ${this.admin} refused ${what}: ${message}`, r.status === 409 ? 'conflict' : 'invalid', r.status);
  }

  private call(method: string, path: string, body?: string, timeoutMs = ADMIN_TIMEOUT_MS): Promise<AdminAnswer> {
    return adminRequest(this.target, method, path, body, timeoutMs, this.agent);
  }
}

function sampleQuery(rollout: string, revision: number, sinceMs: number, max: number | undefined, role: ListenerRole | undefined): string {
  const q = new URLSearchParams({ rollout, revision: String(revision), sinceMs: String(Math.floor(sinceMs)) });
  if (max !== undefined) q.set('max', String(max));
  if (role !== undefined) q.set('role', role);
  return q.toString();
}

function adminRequest(
  target: AdminTarget,
  method: string,
  path: string,
  body: string | undefined,
  timeoutMs: number,
  agent: http.Agent | false,
  retried = false,
): Promise<AdminAnswer> {
  const { host, port, admin } = target;
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { authorization: `Bearer ${target.token}` };
    if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    const req = http.request({ host, port, method, path, headers, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        // A router process that handed over to a successor, reached on a connection opened
        // before: it did nothing; ask again (the answer closed the connection, so the next
        // one reaches the successor).
        if (res.statusCode === 503 && res.headers[SUCCESSOR_HEADER] !== undefined && !retried) {
          resolve(adminRequest(target, method, path, body, timeoutMs, agent, true));
          return;
        }
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs}ms`), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => {
      // A pooled connection the router closed as we reused it; every admin call is idempotent.
      if (req.reusedSocket && e.code === 'ECONNRESET' && !retried) {
        resolve(adminRequest(target, method, path, body, timeoutMs, agent, true));
        return;
      }
      reject(new UserError(`router admin ${admin} unreachable: ${e.code ?? e.message} — is \`sluice up\` running?`, 'unavailable', 503));
    });
    req.end(body);
  });
}

/** The state directory whose router a caller expects, and its admin token. */
export interface RouterOwner {
  stateDir: string;
  token: string;
}

/**
 * What answers at an admin address: nothing (free to start a router), this state directory's
 * router, or something else, described in a few words.
 */
export type RouterProbe = { kind: 'none' } | { kind: 'ours'; identity: RouterIdentity } | { kind: 'foreign'; what: string };

/**
 * Asks GET /identity with the owner's token: only a router that accepts the credential and
 * names the same state directory is ours. Anything else that accepts a connection holds the
 * address, and the control plane must not send it a table.
 */
export async function probeRouter(admin: string, owner: RouterOwner, timeoutMs = 1000): Promise<RouterProbe> {
  const addr = tryParseHostPort(admin);
  if (addr === undefined) throw new UserError(`router admin address ${admin}: must be host:port`);
  let r: AdminAnswer;
  try {
    r = await adminRequest({ ...addr, admin, token: owner.token }, 'GET', '/identity', undefined, timeoutMs, false);
  } catch (e) {
    const message = (e as Error).message;
    if (/ECONNREFUSED|EADDRNOTAVAIL/.test(message)) return { kind: 'none' };
    if (/ETIMEDOUT/.test(message)) return { kind: 'foreign', what: `it accepts connections but gave no HTTP answer within ${timeoutMs}ms` };
    return { kind: 'foreign', what: message.replace(/ — is `sluice up` running\?$/, '') };
  }
  if (r.status === 401) return { kind: 'foreign', what: "a router that refuses this state directory's admin token, likely another state directory's" };
  if (r.status !== 200) return { kind: 'foreign', what: `GET /identity answered ${r.status} ${JSON.stringify(r.body.slice(0, 60))}` };
  let identity: RouterIdentity;
  try {
    identity = JSON.parse(r.body) as RouterIdentity;
  } catch {
    return { kind: 'foreign', what: `GET /identity answered 200 ${JSON.stringify(r.body.slice(0, 60))}, not a router's identity` };
  }
  if (typeof identity?.stateDir !== 'string') return { kind: 'foreign', what: 'GET /identity named no state directory' };
  if (identity.stateDir !== realStateDir(owner.stateDir)) return { kind: 'foreign', what: `the router of state directory ${identity.stateDir}` };
  return { kind: 'ours', identity };
}

function realStateDir(stateDir: string): string {
  try {
    return realpathSync(stateDir);
  } catch {
    return stateDir;
  }
}

/** One line for an address held by something that is not the owner's router. */
export function foreignRouterError(admin: string, what: string): UserError {
  return new UserError(
    `address ${admin} is held by something that is not this state directory's router (${what}) — stop it or pass --router-admin HOST:PORT`,
    'admin-address-taken',
    409,
  );
}

/** True when this state directory's router answers at the admin address (credential and identity checked). */
export async function isRouterUp(admin: string, owner: RouterOwner, timeoutMs = 1000): Promise<boolean> {
  return (await probeRouter(admin, owner, timeoutMs)).kind === 'ours';
}

export interface StartRouterOptions {
  stateDir: string;
  admin?: string;
  /** The router's stdout and stderr are appended here. */
  logFile: string;
  /** How long to wait for /healthz. */
  readyTimeoutMs?: number;
  /** Extra command-line options for main.js, e.g. ['--drain-timeout-ms', '5000'], ['--allow-remote']. */
  extraArgs?: string[];
}

/**
 * Node options for the router process (a handover passes them on: main.ts spawns its
 * successor with process.execArgv). `--single-threaded-gc`: V8 collects on the main thread
 * instead of waking helper threads. The router's heap is small (tens of MB), so a scavenge
 * is short work, and on a machine whose cores are shared with the apps and the clients, a
 * parallel scavenge that waits for its helper threads to be scheduled is what made the
 * pauses long (measured on 2 shared CPUs at 2,000 req/s: scavenge p90 1.77 → 1.13 ms,
 * max 8.1 → 4.7 ms, router p99 latency about a third lower; see bench/results/router.md).
 */
export const ROUTER_NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];

/**
 * Starts the router as its own process group with its output in a file and no handle held
 * by this process, so that the control plane can die (even by SIGKILL) and leave it
 * serving. Creates the admin token first (credential.ts). Resolves with its pid and token
 * once it answers GET /identity as this state directory's router; refuses at once when
 * anything already holds the admin address.
 */
export async function startRouterProcess(opts: StartRouterOptions): Promise<{ pid: number; token: string }> {
  const admin = opts.admin ?? DEFAULT_ROUTER_ADMIN;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 10_000;
  const owner = { stateDir: opts.stateDir, token: ensureAdminToken(opts.stateDir) };
  const before = await probeRouter(admin, owner);
  if (before.kind === 'ours') {
    throw new UserError(
      `this state directory's router already answers at ${admin} (pid ${before.identity.pid}); use it, or stop it first (POST /shutdown)`,
      'conflict',
      409,
    );
  }
  if (before.kind === 'foreign') throw foreignRouterError(admin, before.what);
  const mainJs = fileURLToPath(new URL('./main.js', import.meta.url));
  mkdirSync(dirname(opts.logFile), { recursive: true });
  const out = openSync(opts.logFile, 'a');
  const child = spawn(process.execPath, [...ROUTER_NODE_FLAGS, mainJs, '--state-dir', opts.stateDir, '--admin', admin, ...(opts.extraArgs ?? [])], {
    detached: true,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = signal !== null ? `signal ${signal}` : `code ${code}`;
  });
  child.once('error', (e) => {
    exited = e.message;
  });
  child.unref();
  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      throw new UserError(`router exited at start (${exited}): ${lastLine(opts.logFile)} (log: ${opts.logFile})`, 'unavailable', 503);
    }
    const probe = await probeRouter(admin, owner, 500);
    if (probe.kind === 'ours') return { pid: child.pid!, token: owner.token };
    // Bound in the meantime by someone else: the router will exit with "address in use".
    if (probe.kind === 'foreign' && exited === undefined) await new Promise((r) => setTimeout(r, 200));
    if (probe.kind === 'foreign' && exited === undefined) throw foreignRouterError(admin, probe.what);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new UserError(`router admin ${admin} did not answer within ${readyTimeoutMs}ms; see ${opts.logFile}`, 'unavailable', 503);
}

function lastLine(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    return lines[lines.length - 1] ?? '';
  } catch {
    return '';
  }
}
