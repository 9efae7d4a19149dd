import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import type { Probe, Template } from '../../core/spec.js';
import { UserError } from '../../util/errors.js';

/** One probe attempt: resolves true on success, false on failure or when `timeoutMs` passes. Never rejects. */
export type ProbeAction = (timeoutMs: number) => Promise<boolean>;

/** Where a probe runs: the instance's port, and the env/cwd an exec probe gets. */
export interface ProbeTarget {
  port: number;
  env: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Throws a UserError naming the first probe of `template` that has no action. */
export function validateProbes(template: Template, where: string): void {
  for (const [name, probe] of Object.entries(template.probes)) {
    if (probe && !probe.httpGet && !probe.tcpSocket && !probe.exec) {
      throw new UserError(`${where}: probes.${name} has no action; set one of httpGet, tcpSocket or exec`);
    }
  }
}

/** The action a Probe describes: httpGet, tcpSocket or exec, in that order of precedence. */
export function probeAction(probe: Probe, target: ProbeTarget): ProbeAction {
  if (probe.httpGet) {
    const { path, headers } = probe.httpGet;
    const port = probe.httpGet.port ?? target.port;
    return (timeoutMs) => httpGetSucceeds(port, path, headers, timeoutMs);
  }
  if (probe.tcpSocket) {
    const port = probe.tcpSocket.port ?? target.port;
    return (timeoutMs) => tcpConnects(port, timeoutMs);
  }
  if (probe.exec) {
    const command = probe.exec.command;
    return (timeoutMs) => execSucceeds(command, target, timeoutMs);
  }
  throw new Error('probe has no action: set one of httpGet, tcpSocket or exec');
}

/** GET http://127.0.0.1:port/path; success is a status in 200..399. */
export function httpGetSucceeds(port: number, path: string, headers: Record<string, string>, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      finish(status >= 200 && status < 400);
    });
    const timer = setTimeout(() => finish(false), timeoutMs);
    req.on('timeout', () => finish(false));
    req.on('error', () => finish(false));
    function finish(ok: boolean): void {
      clearTimeout(timer);
      req.destroy();
      resolve(ok);
    }
  });
}

/** A TCP connect to 127.0.0.1:port that succeeds within the timeout. */
export function tcpConnects(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
    function finish(ok: boolean): void {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    }
  });
}

/** Run the command (no shell) with the instance's env; success is exit 0 within the timeout. */
export function execSucceeds(command: string[], target: ProbeTarget, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (command.length === 0) return resolve(false);
    const child = spawn(command[0], command.slice(1), { env: target.env, cwd: target.cwd, stdio: 'ignore' });
    let done = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(false);
    }, timeoutMs);
    child.once('error', () => finish(false));
    child.once('exit', (code) => finish(code === 0));
    function finish(ok: boolean): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(ok);
    }
  });
}
