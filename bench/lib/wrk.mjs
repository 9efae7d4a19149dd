// Closed-loop throughput runs with wrk (Debian's package): one thread, so that the load
// tool leaves the other core to the app and the proxy on a two-core machine.
import { run } from './procs.mjs';

export const WRK_THREADS = 1;
export const WRK_CONNECTIONS = 50;

/** The exact argument list used for a run, so the results file can print it. */
export function wrkArgs(port, seconds, headers = []) {
  const args = [`-t${WRK_THREADS}`, `-c${WRK_CONNECTIONS}`, `-d${seconds}s`, '--latency', '--timeout', '5s'];
  for (const h of headers) args.push('-H', h);
  args.push(`http://127.0.0.1:${port}/`);
  return args;
}

export function wrkCommandLine(args) {
  return ['wrk', ...args.map((a) => (/[\s:]/.test(a) && !a.startsWith('http') ? `'${a}'` : a))].join(' ');
}

/** Runs wrk; resolves {rps, p50Ms, p99Ms, requests, errors, non2xx}. */
export async function runWrk(port, seconds, headers) {
  const args = wrkArgs(port, seconds, headers);
  const r = await run('wrk', args, (seconds + 20) * 1000);
  if (r.code !== 0) throw new Error(`wrk ${args.join(' ')} failed (${r.killed ? 'timed out' : `exit ${r.code}`}): ${r.stderr || r.stdout}`);
  return parseWrk(r.stdout);
}

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function duration(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (m === null) throw new Error(`wrk: cannot read the duration ${text}`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

export function parseWrk(out) {
  const pct = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out);
    if (m === null) throw new Error(`wrk output has no ${p}% line:\n${out}`);
    return duration(m[1]);
  };
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (rps === null || total === null) throw new Error(`unexpected wrk output:\n${out}`);
  return {
    rps: Number(rps[1]),
    p50Ms: pct(50),
    p99Ms: pct(99),
    requests: Number(total[1]),
    errors: sock === null ? 0 : sock.slice(1).reduce((s, x) => s + Number(x), 0),
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
  };
}
