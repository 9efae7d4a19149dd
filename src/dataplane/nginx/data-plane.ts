/**
 * nginx as a data plane: the listeners of rollouts with `traffic.router: nginx` become one
 * nginx configuration file; apply = render, write, `nginx -t` (a refusal restores the
 * previous file and rejects), reload, then wait until the new workers serve the new
 * generation and the old ones stopped accepting. Analysis reads the JSON access log.
 */
import http from 'node:http';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { RevisionSampleList, RevisionTraffic, WindowStats } from '../../core/traffic-router.js';
import type { ListenerRole, ListenerRoutes } from '../../core/route-table.js';
import { validateRouteTable } from '../../router/validate.js';
import { parseHostPort } from '../../util/host-port.js';
import { UserError } from '../../util/errors.js';
import { ExternalNginx, ManagedNginx, type NginxControl } from './control.js';
import { LogTail } from './access-log.js';
import { NginxMetrics } from './metrics.js';
import { workersOf } from './procfs.js';
import { GENERATION_PATH, renderRoutes } from './render.js';
import { DEFAULT_NGINX_SETTINGS, type NginxSettings } from './settings.js';

/** How long apply waits for nginx to serve a new configuration. */
const RELOAD_TIMEOUT_MS = 15_000;
/** A managed access log larger than this is rotated (renamed to .1, nginx reopens). */
const ROTATE_BYTES = 64 << 20;

export class NginxDataPlane {
  private control: NginxControl | undefined;
  private settingsKey = '';
  private tail: LogTail | undefined;
  private timer: NodeJS.Timeout | undefined;
  readonly metrics = new NginxMetrics();
  /** Endpoints nginx routed to in some applied configuration and not yet reported idle. */
  private readonly known = new Set<string>();
  private lock: Promise<unknown> = Promise.resolve();
  private used = false;

  constructor(
    private readonly stateDir: string,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /** True once a table with nginx listeners was applied (or a managed nginx was found running). */
  get active(): boolean {
    return this.used;
  }

  /** Re-attaches to a managed nginx left running by an earlier control plane. */
  adopt(): void {
    const managed = new ManagedNginx(join(this.stateDir, 'nginx'), DEFAULT_NGINX_SETTINGS.binary);
    if (managed.masterPid() !== undefined) {
      this.control = managed;
      this.used = true;
      this.follow(managed.accessLog);
    }
  }

  apply(generation: number, listeners: ListenerRoutes[]): Promise<void> {
    const next = this.lock.then(() => this.applyNow(generation, listeners));
    this.lock = next.catch(() => undefined);
    return next;
  }

  private async applyNow(generation: number, listeners: ListenerRoutes[]): Promise<void> {
    if (listeners.length === 0 && !this.used) return;
    // The builtin router checks its tables on arrival; nginx's part gets the same checks
    // (and render.ts the nginx-only ones) before anything is written.
    validateRouteTable({ generation, listeners });
    this.used = true;
    const control = this.controlFor(listeners);
    const statusListen = await control.statusListen();
    const text = renderRoutes(listeners, {
      generation,
      statusListen,
      accessLog: control.accessLog,
      keepaliveSeconds: this.settingsOf(listeners).keepaliveSeconds,
    });
    const file = control.routesFile;
    mkdirSync(dirname(file), { recursive: true });
    const previous = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
    const check = await control.test();
    if (check.code !== 0) {
      if (previous !== undefined) writeFileSync(file, previous);
      throw new UserError(`nginx refused route table ${generation} (nginx -t, exit ${check.code}): ${lastLines(check.output)}`, 'invalid', 400);
    }
    const master = control.masterPid();
    const before = master === undefined ? [] : workersOf(master).current;
    await control.reload();
    await this.waitServing(control, statusListen, generation, before);
    for (const l of listeners) for (const b of l.backends) for (const e of b.endpoints) this.known.add(e.id);
    this.follow(control.accessLog);
    this.metrics.retain({ generation, listeners });
  }

  /** Resolves once nginx answers the new generation and no worker of an older one still accepts. */
  private async waitServing(control: NginxControl, statusListen: string, generation: number, oldWorkers: number[]): Promise<void> {
    const until = Date.now() + RELOAD_TIMEOUT_MS;
    let seen = '';
    while (Date.now() < until) {
      seen = await getText(statusListen, GENERATION_PATH).catch((e: Error) => `(${e.message})`);
      if (seen === String(generation)) {
        const pid = control.masterPid();
        // Old workers stop accepting when told to shut down; until then they may take a request.
        if (pid === undefined || !workersOf(pid).current.some((w) => oldWorkers.includes(w))) return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new UserError(
      `nginx did not serve route table ${generation} within ${RELOAD_TIMEOUT_MS} ms (status answers ${seen}); see its error log`,
      'unavailable',
      503,
    );
  }

  /**
   * nginx cannot count requests per endpoint; after a reload, old workers finish what they
   * have in flight and exit. So an endpoint is idle once no old worker remains.
   */
  async waitIdle(endpointId: string, timeoutMs: number): Promise<boolean> {
    if (!this.known.has(endpointId)) return true;
    const until = Date.now() + timeoutMs;
    for (;;) {
      const pid = this.control?.masterPid();
      if (pid === undefined || workersOf(pid).shuttingDown.length === 0) {
        this.known.delete(endpointId);
        return true;
      }
      if (Date.now() >= until) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  knows(endpointId: string): boolean {
    return this.known.has(endpointId);
  }

  window(rollout: string, revision: number, sinceMs: number, role?: ListenerRole): WindowStats {
    this.tail?.poll();
    return this.metrics.window(rollout, revision, sinceMs, role);
  }

  samples(rollout: string, revision: number, sinceMs: number, max?: number, role?: ListenerRole): RevisionSampleList {
    this.tail?.poll();
    return this.metrics.list(rollout, revision, sinceMs, max, role);
  }

  traffic(): RevisionTraffic[] {
    this.tail?.poll();
    return this.metrics.traffic();
  }

  /** `sluice down`: stop a managed nginx (in-flight requests finish). */
  async shutdown(): Promise<void> {
    this.close();
    await this.control?.stop(15_000);
  }

  /** Stop reading the log; nginx keeps serving. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.tail?.close();
  }

  private settingsOf(listeners: ListenerRoutes[]): NginxSettings {
    return { ...DEFAULT_NGINX_SETTINGS, ...settingsIn(listeners.find((l) => l.dataPlaneSettings)) };
  }

  private controlFor(listeners: ListenerRoutes[]): NginxControl {
    const withSettings = listeners.filter((l) => l.dataPlaneSettings);
    if (withSettings.length === 0 && this.control) return this.control;
    const s = this.settingsOf(listeners);
    const key = JSON.stringify(s);
    const differing = new Set(withSettings.map((l) => JSON.stringify({ ...DEFAULT_NGINX_SETTINGS, ...settingsIn(l) })));
    if (differing.size > 1) this.log(`nginx: rollouts disagree on traffic.nginx; using the settings of ${withSettings[0].rollout}`);
    if (this.control === undefined || key !== this.settingsKey) {
      this.settingsKey = key;
      this.control = s.manage ? new ManagedNginx(join(this.stateDir, 'nginx'), s.binary) : new ExternalNginx(s);
    }
    return this.control;
  }

  private follow(path: string): void {
    if (this.tail?.path !== path) {
      this.tail?.close();
      this.tail = new LogTail(path, (line) => this.metrics.line(line));
    }
    this.timer ??= setInterval(() => {
      this.tail?.poll();
      this.rotate();
    }, 500).unref();
  }

  /** Keeps a managed access log bounded: rename it and have nginx reopen (USR1). */
  private rotate(): void {
    const c = this.control;
    if (!(c instanceof ManagedNginx)) return;
    try {
      if (statSync(c.accessLog).size < ROTATE_BYTES) return;
      renameSync(c.accessLog, `${c.accessLog}.1`);
      const pid = c.masterPid();
      if (pid !== undefined) process.kill(pid, 'SIGUSR1');
    } catch {
      // no log yet, or nginx went away
    }
  }
}

function lastLines(output: string): string {
  return output
    .split('\n')
    .filter((l) => l.trim())
    .slice(-2)
    .join(' | ');
}

function getText(address: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const { host, port } = parseHostPort(address);
    // A new connection each time, so that whichever worker accepts it answers.
    const req = http.get({ host, port, path, agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body.trim()));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** A listener's `dataPlaneSettings`: decoded by nginx's own schema (./spec.ts) when its spec was loaded. */
function settingsIn(listener: ListenerRoutes | undefined): Partial<NginxSettings> {
  return (listener?.dataPlaneSettings ?? {}) as Partial<NginxSettings>;
}
