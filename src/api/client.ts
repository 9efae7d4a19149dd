/**
 * Typed client of the control-plane API (api/server.ts): the CLI's only way to act on
 * rollouts. Implements RolloutActions, so code written against the engine works remotely.
 */
import type { ApprovalRecord, EnvironmentRecord, PipelineRecord, ReleaseStageState } from '../core/pipeline.js';
import type { CreateReleaseInput, ReleaseView } from '../engine/pipelines/releases.js';
import type { ApprovalRow } from '../engine/pipelines/documents.js';
import type { DeploymentLogRow } from '../pipelines/reports.js';
import type { DoraReport } from '../pipelines/dora.js';
import { request } from 'node:http';
import { hostname, userInfo } from 'node:os';
import type { AnalysisView } from '../engine/actions.js';
import type { Actor, ApplyResult, RolloutActions } from '../engine/actions.js';
import type { Revision, RolloutEvent, RolloutView } from '../core/rollout.js';
import type { LogChunk } from '../core/platform.js';
import { parseHostPort } from '../util/host-port.js';
import { UserError } from '../util/errors.js';
import { ACTOR_HEADER } from './server.js';
import { readApiInfo, readToken } from './token.js';
import type { PublicTokenRecord } from './tokens.js';
import type { AuditRecord } from '../core/auth.js';
import type { FlagList, FlagPushStatus, FlagView } from '../engine/flags/controller.js';
import type { StaleFlag } from '../engine/flags/stale.js';
import type { ExperimentReport } from '../core/experiment.js';
import type { BackupRecord, DatabaseStatusView } from '../core/database.js';

/** `GET /v1/rollouts/:name/experiment`: the latest report (null: no test with metrics ran) and the stored snapshots, oldest first. */
export interface ExperimentView {
  report: ExperimentReport | null;
  snapshots: ExperimentReport[];
}

/** One row of `GET /v1/experiments`. */
export interface ExperimentSummary {
  rollout: string;
  experiment: string;
  verdict: string;
  users: number;
  at: number;
}

export interface ApiClientOptions {
  /** host:port */
  address: string;
  token: string;
  /** Recorded on the events of actions; default: see defaultActor(). */
  actor?: string;
  /** Per-request timeout in ms (default 60s: an apply may wait for the store). */
  timeoutMs?: number;
}

/** `$USER@hostname`, or "cli" when the user cannot be told. */
export function defaultActor(): string {
  let user = process.env.USER || process.env.USERNAME || '';
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = '';
    }
  }
  return user ? `${user}@${hostname()}` : 'cli';
}

export class ApiClient implements RolloutActions {
  readonly address: string;
  private readonly token: string;
  private readonly actor: string;
  private readonly timeoutMs: number;

  constructor(options: ApiClientOptions) {
    this.address = options.address;
    this.token = options.token;
    this.actor = options.actor ?? defaultActor();
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** Address from `<stateDir>/api.json`, token from $SLUICE_TOKEN when set (a named token), else `<stateDir>/token`. */
  static fromStateDir(stateDir: string, actor?: string, env: NodeJS.ProcessEnv = process.env): ApiClient {
    try {
      const { address } = readApiInfo(stateDir);
      const token = env.SLUICE_TOKEN?.trim() || readToken(stateDir);
      return new ApiClient({ address, token, actor });
    } catch (err) {
      // No api.json and no token mean the same to the user: nothing runs for this state directory.
      const code = (err as UserError).code;
      if (err instanceof UserError && (code === 'not-running' || code === 'no-token')) throw notRunning(stateDir);
      throw err;
    }
  }

  apply(yamlText: string, file: string, by?: Actor): Promise<ApplyResult[]> {
    return this.call('POST', '/v1/apply', { yaml: yamlText, file }, by);
  }
  list(): Promise<RolloutView[]> {
    return this.call('GET', '/v1/rollouts');
  }
  get(name: string): Promise<RolloutView> {
    return this.call('GET', rolloutPath(name));
  }
  history(name: string): Promise<Revision[]> {
    return this.call('GET', rolloutPath(name, 'history'));
  }
  events(name: string, options: { afterId?: number; limit?: number } = {}): Promise<RolloutEvent[]> {
    const query = new URLSearchParams();
    if (options.afterId !== undefined) query.set('afterId', String(options.afterId));
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    const qs = query.toString();
    return this.call('GET', rolloutPath(name, 'events') + (qs ? `?${qs}` : ''));
  }
  async promote(name: string, options: { full?: boolean; variant?: string } = {}, by?: Actor): Promise<void> {
    await this.call(
      'POST',
      rolloutPath(name, 'promote'),
      { full: options.full ?? false, ...(options.variant !== undefined ? { variant: options.variant } : {}) },
      by,
    );
  }
  async stopTraffic(name: string, by?: Actor): Promise<void> {
    await this.call('POST', rolloutPath(name, 'stop-traffic'), {}, by);
  }
  async pauseTraffic(name: string, options: { timeoutSeconds?: number } = {}, by?: Actor): Promise<void> {
    await this.call('POST', rolloutPath(name, 'pause-traffic'), options.timeoutSeconds !== undefined ? { timeoutSeconds: options.timeoutSeconds } : {}, by);
  }
  async resumeTraffic(name: string, by?: Actor): Promise<void> {
    await this.call('POST', rolloutPath(name, 'resume-traffic'), {}, by);
  }
  async abort(name: string, by?: Actor): Promise<void> {
    await this.call('POST', rolloutPath(name, 'abort'), {}, by);
  }
  async retry(name: string, by?: Actor): Promise<void> {
    await this.call('POST', rolloutPath(name, 'retry'), {}, by);
  }
  async pause(name: string, by?: Actor): Promise<void> {
    await this.call('POST', rolloutPath(name, 'pause'), {}, by);
  }
  async resume(name: string, by?: Actor): Promise<void> {
    await this.call('POST', rolloutPath(name, 'resume'), {}, by);
  }
  undo(name: string, options: { toRevision?: number } = {}, by?: Actor): Promise<ApplyResult> {
    return this.call('POST', rolloutPath(name, 'undo'), { toRevision: options.toRevision }, by);
  }
  analysis(name: string): Promise<AnalysisView[]> {
    return this.call('GET', rolloutPath(name, 'analysis'));
  }
  async approve(name: string, by?: Actor): Promise<number> {
    return ((await this.call('POST', rolloutPath(name, 'approve'), {}, by)) as { approved: number }).approved;
  }
  logs(name: string, instanceId: string, offset: number, maxBytes: number): Promise<LogChunk> {
    const query = new URLSearchParams({ instance: instanceId, offset: String(offset), maxBytes: String(maxBytes) });
    return this.call('GET', `${rolloutPath(name, 'logs')}?${query}`);
  }
  async restart(name: string, by?: Actor): Promise<void> {
    await this.call('POST', rolloutPath(name, 'restart'), {}, by);
  }
  set(name: string, changes: { version?: string; env?: Record<string, string | null> }, by?: Actor): Promise<ApplyResult> {
    return this.call('POST', rolloutPath(name, 'set'), changes, by);
  }
  async delete(name: string, by?: Actor): Promise<void> {
    await this.call('DELETE', rolloutPath(name), undefined, by);
  }

  /** Ask the control plane to stop; `everything` also stops instances and the router. */
  async shutdown(options: { everything: boolean }, by?: Actor): Promise<void> {
    await this.call('POST', '/v1/shutdown', options, by);
  }

  /** `sluice router restart`: the router process is replaced without closing its sockets. */
  routerRestart(by?: Actor): Promise<{ oldPid: number; newPid: number; generation: number; listeners: number }> {
    return this.call('POST', '/v1/router/restart', {}, by);
  }

  // ——— feature flags (/v1/flags…) ———

  listFlags(): Promise<FlagList> {
    return this.call('GET', '/v1/flags');
  }
  getFlag(name: string): Promise<FlagView> {
    return this.call('GET', flagPath(name));
  }
  flagHistory(name: string): Promise<RolloutEvent[]> {
    return this.call('GET', flagPath(name, 'history'));
  }
  async killFlag(name: string, reason?: string, by?: Actor): Promise<FlagPushStatus> {
    return ((await this.call('POST', flagPath(name, 'kill'), reason !== undefined ? { reason } : {}, by)) as { push: FlagPushStatus }).push;
  }
  async restoreFlag(name: string, reason?: string, by?: Actor): Promise<FlagPushStatus> {
    return ((await this.call('POST', flagPath(name, 'restore'), reason !== undefined ? { reason } : {}, by)) as { push: FlagPushStatus }).push;
  }
  async setFlagPercentage(name: string, percentage: number, by?: Actor): Promise<FlagPushStatus> {
    return ((await this.call('PUT', flagPath(name, 'percentage'), { percentage }, by)) as { push: FlagPushStatus }).push;
  }
  staleFlags(days?: number): Promise<StaleFlag[]> {
    return this.call('GET', `/v1/flags-stale${days !== undefined ? `?days=${days}` : ''}`);
  }
  /** Users and roles (admin only but whoami): named tokens and the audit log. */
  createToken(name: string, roles: string[], expiresInSeconds?: number): Promise<{ token: string; record: PublicTokenRecord }> {
    return this.call('POST', '/v1/tokens', { name, roles, ...(expiresInSeconds !== undefined ? { expiresInSeconds } : {}) });
  }
  listTokens(): Promise<{ tokens: PublicTokenRecord[] }> {
    return this.call('GET', '/v1/tokens');
  }
  revokeToken(id: string): Promise<{ revoked: PublicTokenRecord }> {
    return this.call('DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
  }
  whoami(): Promise<{ user: string; roles: string[]; tokenId?: string }> {
    return this.call('GET', '/v1/whoami');
  }
  audit(options: { user?: string; limit?: number; afterId?: number } = {}): Promise<{ records: AuditRecord[] }> {
    const q = new URLSearchParams();
    if (options.user !== undefined) q.set('user', options.user);
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    if (options.afterId !== undefined) q.set('afterId', String(options.afterId));
    const query = q.toString();
    return this.call('GET', `/v1/audit${query ? `?${query}` : ''}`);
  }

  createClientToken(name: string, flags?: string[], by?: Actor): Promise<{ name: string; token: string; flags?: string[] }> {
    return this.call('POST', '/v1/flag-tokens', { name, ...(flags ? { flags } : {}) }, by);
  }
  /** `sluice promote|abort|pause|resume|retry flag/NAME`: a flag ramp's verbs. */
  async flagRamp(verb: 'promote' | 'abort' | 'pause' | 'resume' | 'retry', name: string, body: Record<string, unknown> = {}, by?: Actor): Promise<void> {
    await this.call('POST', flagPath(name, verb), body, by);
  }

  // ——— experiments (/v1/rollouts/:name/experiment, /v1/experiments) ———

  /** The rollout's A/B test report; `experiment` (`r<revision>a<attempt>`) picks an earlier test than the latest. */
  experiment(name: string, experiment?: string): Promise<ExperimentView> {
    return this.call('GET', rolloutPath(name, 'experiment') + (experiment !== undefined ? `?${new URLSearchParams({ experiment })}` : ''));
  }
  async listExperiments(): Promise<ExperimentSummary[]> {
    return ((await this.call('GET', '/v1/experiments')) as { experiments: ExperimentSummary[] }).experiments;
  }

  // ——— database migrations (/v1/rollouts/:name/database…, /v1/backups) ———

  databaseStatus(name: string): Promise<DatabaseStatusView> {
    return this.call('GET', rolloutPath(name, 'database'));
  }
  async databasePlan(name: string): Promise<string[]> {
    return ((await this.call('GET', rolloutPath(name, 'database/plan'))) as { plan: string[] }).plan;
  }
  async backups(rollout?: string): Promise<BackupRecord[]> {
    return ((await this.call('GET', `/v1/backups${rollout ? `?${new URLSearchParams({ rollout })}` : ''}`)) as { backups: BackupRecord[] }).backups;
  }
  async restoreBackup(name: string, backup: string, by?: Actor): Promise<BackupRecord> {
    return ((await this.call('POST', rolloutPath(name, 'database/restore'), { backup }, by)) as { restored: BackupRecord }).restored;
  }

  // ——— environments, pipelines and releases (/v1/releases…, /v1/kpis) ———

  async environments(): Promise<EnvironmentRecord[]> {
    return ((await this.call('GET', '/v1/environments')) as { environments: EnvironmentRecord[] }).environments;
  }
  async pipelines(): Promise<PipelineRecord[]> {
    return ((await this.call('GET', '/v1/pipelines')) as { pipelines: PipelineRecord[] }).pipelines;
  }
  createRelease(input: CreateReleaseInput, by?: Actor): Promise<ReleaseView> {
    return this.call('POST', '/v1/releases', input, by);
  }
  async releases(pipeline?: string): Promise<ReleaseView[]> {
    return ((await this.call('GET', `/v1/releases${pipeline ? `?${new URLSearchParams({ pipeline })}` : ''}`)) as { releases: ReleaseView[] }).releases;
  }
  release(id: string): Promise<ReleaseView> {
    return this.call('GET', releasePath(id));
  }
  decideRelease(id: string, decision: 'approve' | 'reject', body: { stage: string; comment?: string; role?: string }, by?: Actor): Promise<ApprovalRecord> {
    return this.call('POST', releasePath(id, decision), body, by);
  }
  async withdrawRelease(id: string, stage: string, by?: Actor): Promise<number> {
    return ((await this.call('POST', releasePath(id, 'withdraw'), { stage }, by)) as { withdrawn: number }).withdrawn;
  }
  promoteRelease(id: string, stage: string, by?: Actor): Promise<ReleaseStageState> {
    return this.call('POST', releasePath(id, 'promote'), { stage }, by);
  }
  checkRelease(id: string, stage: string, item: string, by?: Actor): Promise<ReleaseStageState> {
    return this.call('POST', releasePath(id, 'check'), { stage, item }, by);
  }
  /** The deployment request, post-deploy report or post-mortem of a release in a stage (Markdown). */
  async releaseDocument(id: string, kind: 'request' | 'report' | 'postmortem', stage: string): Promise<string> {
    return ((await this.call('GET', `${releasePath(id, kind)}?${new URLSearchParams({ stage })}`)) as { markdown: string }).markdown;
  }
  async approvals(release?: string): Promise<ApprovalRow[]> {
    return ((await this.call('GET', `/v1/approvals${release ? `?${new URLSearchParams({ release })}` : ''}`)) as { approvals: ApprovalRow[] }).approvals;
  }
  async deployments(env?: string): Promise<DeploymentLogRow[]> {
    return ((await this.call('GET', `/v1/deployments${env ? `?${new URLSearchParams({ env })}` : ''}`)) as { deployments: DeploymentLogRow[] }).deployments;
  }
  kpis(options: { env?: string; since?: string } = {}): Promise<DoraReport> {
    const q = new URLSearchParams(Object.entries(options).filter((e): e is [string, string] => e[1] !== undefined));
    return this.call('GET', `/v1/kpis${q.size > 0 ? `?${q}` : ''}`);
  }

  /** True when the API answers its health check (no token needed). */
  async healthy(): Promise<boolean> {
    try {
      await this.call('GET', '/v1/healthz', undefined, undefined, 2000);
      return true;
    } catch {
      return false;
    }
  }

  private call<T>(method: string, path: string, body?: unknown, by?: Actor, timeoutMs = this.timeoutMs): Promise<T> {
    const { host, port } = splitAddress(this.address);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          host,
          port,
          method,
          path,
          // One request per CLI call: a kept-alive socket would only delay the exit.
          agent: false,
          headers: {
            authorization: `Bearer ${this.token}`,
            [ACTOR_HEADER]: by?.actor ?? this.actor,
            accept: 'application/json',
            ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = undefined;
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              resolve(parsed as T);
              return;
            }
            const err = parsed as { error?: unknown; code?: unknown } | undefined;
            const message = typeof err?.error === 'string' ? err.error : `the sluice API at ${this.address} answered ${status} to ${method} ${path}`;
            reject(new UserError(message, typeof err?.code === 'string' ? err.code : 'api', status));
          });
        },
      );
      req.on('timeout', () => {
        req.destroy(
          new UserError(`the sluice API at ${this.address} did not answer ${method} ${path} within ${Math.round(timeoutMs / 1000)}s`, 'timeout', 504),
        );
      });
      let sent = false;
      req.on('finish', () => (sent = true));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err instanceof UserError) reject(err);
        else if (sent && method !== 'GET' && (err.code === 'ECONNRESET' || err.code === 'EPIPE' || /socket hang up/.test(err.message))) {
          // The request went out; the control plane may have committed it before the connection broke.
          reject(
            new UserError(
              `the connection to the sluice API at ${this.address} broke (${err.code ?? err.message}) before it answered ${method} ${path}: ` +
                `the change may have been applied — check with \`${checkCommand(path)}\` (and \`sluice up -d\` if sluice is no longer running)`,
              'interrupted',
              503,
            ),
          );
        } else if (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' || err.code === 'EHOSTUNREACH') {
          reject(new UserError(`sluice is not running: nothing answers at ${this.address} (${err.code}) — start it with \`sluice up -d\``, 'unreachable', 503));
        } else reject(new UserError(`cannot reach the sluice API at ${this.address}: ${err.message}`, 'unreachable', 503));
      });
      req.end(payload);
    });
  }
}

/** The one "not running" message, whatever file is missing. */
export function notRunning(stateDir: string): UserError {
  return new UserError(`sluice is not running for state directory ${stateDir} (no control plane found) — start it with \`sluice up -d\``, 'not-running', 503);
}

/** The command that shows whether an interrupted change to `path` was applied. */
function checkCommand(path: string): string {
  const m = /^\/v1\/rollouts\/([^/]+)/.exec(path);
  if (m) return `sluice history ${decodeURIComponent(m[1]!)}`;
  const f = /^\/v1\/flags\/([^/]+)/.exec(path);
  if (f) return `sluice flags history ${decodeURIComponent(f[1]!)}`;
  return 'sluice get rollouts';
}

function flagPath(name: string, sub?: string): string {
  return `/v1/flags/${encodeURIComponent(name)}${sub ? `/${sub}` : ''}`;
}

function rolloutPath(name: string, sub?: string): string {
  return `/v1/rollouts/${encodeURIComponent(name)}${sub ? `/${sub}` : ''}`;
}

function splitAddress(address: string): { host: string; port: number } {
  const parsed = parseHostPort(address, { defaultHost: '127.0.0.1', what: 'API address' });
  let host = parsed.host;
  // A server listening on every interface is reached through loopback.
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return { host, port: parsed.port };
}

function releasePath(id: string, sub?: string): string {
  return `/v1/releases/${encodeURIComponent(id)}${sub ? `/${sub}` : ''}`;
}
