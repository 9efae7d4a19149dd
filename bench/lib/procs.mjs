// Child processes for the benchmarks: every one started here is tracked and stopped by
// stopAll(), which the caller runs in `finally` and on SIGINT/SIGTERM.
import { spawn, execFile } from 'node:child_process';
import { openSync, closeSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { createServer } from 'node:net';

const children = new Set();

/** Starts a long-running process with stdout+stderr appended to logFile. */
export function startProcess(cmd, args, { env, logFile, cwd } = {}) {
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** SIGTERM to every tracked process, SIGKILL to those still there after 3 s. */
export async function stopAll() {
  const alive = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  await Promise.all(
    alive.map(
      (c) =>
        new Promise((resolve) => {
          const kill = setTimeout(() => c.kill('SIGKILL'), 3000);
          c.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
}

/** Last resort when the bench itself is exiting synchronously. */
export function killAllNow() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** Runs a command to completion (bounded by timeoutMs); resolves {code, stdout, stderr}. */
export function run(cmd, args, timeoutMs) {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr, killed: err?.killed === true }),
    );
    children.add(child);
    child.on('exit', () => children.delete(child));
  });
}

/** Whether an executable is on PATH (or the sbin directories root tools live in). */
export async function which(cmd) {
  const r = await run('sh', ['-c', `PATH="$PATH:/usr/sbin:/sbin" command -v ${cmd}`], 5000);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

/** One HTTP request on 127.0.0.1 without keep-alive; resolves {status, body}. */
export function request(port, path, { method = 'GET', body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false, timeout: 10_000, headers }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout on 127.0.0.1:${port}${path}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Polls until 127.0.0.1:port answers 2xx on path, or throws after timeoutMs. */
export async function waitForHttp(port, path, timeoutMs, child) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child !== undefined && child.exitCode !== null) throw new Error(`process for port ${port} exited with code ${child.exitCode}`);
    try {
      const r = await request(port, path);
      if (r.status >= 200 && r.status < 300) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`127.0.0.1:${port}${path} did not answer within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** VmRSS of a process in MiB (from /proc/PID/status). */
export function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A bench's scratch directory and its way out: every process it started is stopped and the
 * directory removed at the end (call `cleanup`), on Ctrl-C / SIGTERM, at process exit, or
 * after `hardLimitMs` (the bench then gives up with exit code 2).
 */
export function benchScratch(name, hardLimitMs) {
  const tmp = mkdtempSync(join(os.tmpdir(), `sluice-bench-${name}-`));
  let cleaning;
  const cleanup = () => (cleaning ??= stopAll().then(() => rmSync(tmp, { recursive: true, force: true })));
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      console.error(`\n${sig}: stopping every process the benchmark started…`);
      void cleanup().then(() => process.exit(130));
    });
  }
  const hardLimit = setTimeout(() => {
    console.error(`bench/${name}.mjs: still running after ${hardLimitMs / 60_000} min, giving up`);
    void cleanup().then(() => process.exit(2));
  }, hardLimitMs);
  hardLimit.unref();
  return { tmp, cleanup };
}
