/**
 * Running nginx: either sluice's own (managed: started, reloaded and stopped by sluice, every
 * file under <state-dir>/nginx) or somebody else's (unmanaged: sluice writes one include
 * file and runs the configured test and reload commands).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { isNginxMaster } from './procfs.js';
import type { NginxSettings } from './settings.js';

export interface CommandResult {
  code: number;
  output: string;
}

export interface NginxControl {
  readonly routesFile: string;
  readonly accessLog: string;
  /** host:port of the status server the rendered config adds. */
  statusListen(): Promise<string>;
  /** Validates the whole configuration as it is on disk. */
  test(): Promise<CommandResult>;
  /** Makes nginx load the configuration on disk, starting it first (managed) if it is not running. */
  reload(): Promise<void>;
  /** The master process, when known. */
  masterPid(): number | undefined;
  /** Managed: stop nginx gracefully (in-flight requests finish). Unmanaged: nothing. */
  stop(timeoutMs: number): Promise<void>;
}

export function run(file: string, args: string[], timeoutMs = 15_000, shell = false): Promise<CommandResult> {
  return new Promise((resolve) => {
    const c = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], shell });
    let output = '';
    c.stdout.on('data', (d) => (output += d));
    c.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 127, output: e.message });
    });
    c.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), output: output.trim() });
    });
  });
}

/** The nginx sluice runs itself, non-root, with its prefix, pid, logs and temp files under `dir`. */
export class ManagedNginx implements NginxControl {
  readonly conf: string;
  readonly routesFile: string;
  readonly accessLog: string;
  readonly errorLog: string;
  readonly pidFile: string;
  private readonly portFile: string;

  constructor(
    readonly dir: string,
    private readonly binary: string,
  ) {
    this.conf = join(dir, 'nginx.conf');
    this.routesFile = join(dir, 'routes.conf');
    this.accessLog = join(dir, 'logs', 'access.log');
    this.errorLog = join(dir, 'logs', 'error.log');
    this.pidFile = join(dir, 'nginx.pid');
    this.portFile = join(dir, 'status-listen');
  }

  /** Chosen once per state directory and kept, so a restarted control plane finds nginx's status server again. */
  async statusListen(): Promise<string> {
    if (existsSync(this.portFile)) return readFileSync(this.portFile, 'utf8').trim();
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(this.portFile, `127.0.0.1:${port}\n`);
    return `127.0.0.1:${port}`;
  }

  private writeMain(): void {
    const tmp = join(this.dir, 'tmp');
    for (const d of ['logs', 'tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) mkdirSync(join(this.dir, d), { recursive: true });
    writeFileSync(
      this.conf,
      `# Written by sluice (traffic.router: nginx, manage: true). nginx -p ${this.dir} -c ${this.conf}
worker_processes 1;
pid ${this.pidFile};
error_log ${this.errorLog} warn;
events {
  worker_connections 4096;
}
http {
  default_type application/octet-stream;
  access_log off;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  tcp_nodelay on;
  include ${this.routesFile};
}
`,
    );
  }

  test(): Promise<CommandResult> {
    this.writeMain();
    return run(this.binary, ['-t', '-q', '-p', this.dir, '-c', this.conf]);
  }

  masterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(this.pidFile, 'utf8').trim());
      return pid > 0 && isNginxMaster(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  async reload(): Promise<void> {
    const pid = this.masterPid();
    if (pid !== undefined) {
      process.kill(pid, 'SIGHUP');
      return;
    }
    // nginx daemonizes: the master is re-parented and in its own session, so it outlives
    // the control plane (even kill -9) like the builtin router does.
    this.writeMain();
    const startLog = join(this.dir, 'logs', 'start.log');
    const out = openSync(startLog, 'w');
    const code = await new Promise<number>((resolve) => {
      const c = spawn(this.binary, ['-p', this.dir, '-c', this.conf], { stdio: ['ignore', out, out], detached: true });
      c.on('error', () => resolve(127));
      c.on('exit', (c2) => resolve(c2 ?? 1));
    });
    closeSync(out);
    if (code !== 0) throw new Error(`starting nginx failed (exit ${code}): ${readFileSync(startLog, 'utf8').trim()} (see ${this.errorLog})`);
    const until = Date.now() + 5000;
    while (this.masterPid() === undefined && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  }

  async stop(timeoutMs: number): Promise<void> {
    const pid = this.masterPid();
    if (pid === undefined) return;
    process.kill(pid, 'SIGQUIT');
    const until = Date.now() + timeoutMs;
    while (Date.now() < until && isNginxMaster(pid)) await new Promise((r) => setTimeout(r, 50));
    if (isNginxMaster(pid)) process.kill(pid, 'SIGTERM');
  }
}

/** An nginx somebody else runs: sluice owns one include file and runs the configured commands. */
export class ExternalNginx implements NginxControl {
  readonly routesFile: string;
  readonly accessLog: string;

  constructor(private readonly s: NginxSettings) {
    this.routesFile = s.configFile;
    this.accessLog = s.accessLog;
  }

  async statusListen(): Promise<string> {
    return this.s.statusListen;
  }

  test(): Promise<CommandResult> {
    return run(this.s.test, [], 15_000, true);
  }

  async reload(): Promise<void> {
    const r = await run(this.s.reload, [], 15_000, true);
    if (r.code !== 0) throw new Error(`\`${this.s.reload}\` failed (exit ${r.code}): ${r.output}`);
  }

  masterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(this.s.pidFile, 'utf8').trim());
      return pid > 0 && isNginxMaster(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  async stop(): Promise<void> {
    // Not ours to stop.
  }
}
