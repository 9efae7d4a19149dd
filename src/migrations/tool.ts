import { spawn } from 'node:child_process';
import type { ToolCommand } from '../core/database.js';
import { redactUrl } from './db/adapter.js';

/**
 * A framework's own migration command for a phase (`python manage.py migrate`, `alembic
 * upgrade head`, `flyway migrate`, `prisma migrate deploy`), run after the phase's SQL
 * files with the connection in its environment (`connectionEnv`, e.g. DATABASE_URL). Its
 * output is passed on line by line with any connection value replaced by its redacted
 * form, so a tool that echoes its URL never prints the password.
 */
export interface ToolResult {
  ok: boolean;
  message: string;
}

export function toolName(tool: ToolCommand): string {
  return tool.command.join(' ');
}

/** Replaces every value of `env` (and its password, if it is a URL) in `text`. */
export function redactValues(text: string, env: Record<string, string>): string {
  let out = text;
  for (const v of Object.values(env)) {
    if (!v || v.length < 4) continue;
    out = out.split(v).join(/^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? redactUrl(v) : '***');
    try {
      const pw = new URL(v).password;
      if (pw && pw.length >= 3) out = out.split(decodeURIComponent(pw)).join('***').split(pw).join('***');
    } catch {}
  }
  return out;
}

export function runTool(
  tool: ToolCommand,
  opts: { connectionEnv?: Record<string, string>; signal?: AbortSignal; progress?: (msg: string) => void } = {},
): Promise<ToolResult> {
  const env = opts.connectionEnv ?? {};
  const name = toolName(tool);
  return new Promise((resolve) => {
    if (tool.command.length === 0) return resolve({ ok: false, message: 'tool command is empty — set database.tool.<phase>.command' });
    const child = spawn(tool.command[0], tool.command.slice(1), {
      cwd: tool.cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    let partial = '';
    const onData = (d: Buffer) => {
      const text = redactValues(d.toString(), env);
      tail = (tail + text).slice(-4000);
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) opts.progress?.(`${tool.command[0]}: ${l.trimEnd()}`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    let why = '';
    const kill = (reason: string) => {
      why = reason;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    };
    const timer = setTimeout(() => kill(`timed out after ${tool.timeoutSeconds}s`), tool.timeoutSeconds * 1000);
    const onAbort = () => kill('stopped');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, message: `tool \`${name}\` could not start: ${e.message} — check database.tool (command and cwd)` });
    });
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (partial.trim()) opts.progress?.(`${tool.command[0]}: ${partial.trimEnd()}`);
      if (code === 0 && !why) return resolve({ ok: true, message: `tool \`${name}\` done` });
      const last = tail.trim().split('\n').at(-1) ?? '';
      const how = why || (sig ? `killed by ${sig}` : `exited ${code}`);
      resolve({ ok: false, message: `tool \`${name}\` ${how}${last ? `: ${last}` : ''} — fix its migrations and run the phase again` });
    });
  });
}
