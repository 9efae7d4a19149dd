// flagd (https://flagd.dev, Go) for bench/ofrep.mjs: find a binary or build one, start it on
// a flag file with its OFREP port on 127.0.0.1, and a bare node:http + @openfeature/flagd-core
// OFREP server as the "direct in-process call" reference. Also runnable on its own:
//   node bench/lib/flagd.mjs find                      # prints the binary's path, or why none
//   node bench/lib/flagd.mjs serve-core --port P --file flags.json
//
// Where the binary comes from, first hit wins:
//   1. $SLUICE_FLAGD (a path to a flagd binary);
//   2. the cache, ~/.cache/sluice-bench/flagd/<FLAGD_VERSION>/flagd (reruns skip the build);
//   3. `go install github.com/open-feature/flagd/flagd@<FLAGD_VERSION>` into the cache;
//   4. $SLUICE_FLAGD_SRC: a directory holding flagd's source (its repository's flagd/ and core/
//      modules, and any module the Go module proxy does not serve, each a directory with its
//      go.mod); a copy of flagd/ is built with every other module as a replace directive, into
//      the cache (the source tree is left as it is).
// Every failed step is kept, word for word, so the results file can say why flagd is missing.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, sleep, startProcess } from './procs.mjs';

export const FLAGD_VERSION = process.env.SLUICE_FLAGD_VERSION ?? 'v0.16.1';
export const FLAGD_MODULE = 'github.com/open-feature/flagd/flagd';
const CACHE = join(process.env.XDG_CACHE_HOME ?? join(os.homedir(), '.cache'), 'sluice-bench', 'flagd', FLAGD_VERSION);
const BUILD_TIMEOUT_MS = 15 * 60_000;

/** Runs a command (bounded); resolves {code, stdout, stderr}. Not tracked: it ends by itself. */
function exec(cmd, args, { cwd, env, timeoutMs = 60_000 } = {}) {
  return new Promise((done) => {
    execFile(cmd, args, { cwd, env: { ...process.env, ...env }, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr, killed: err?.killed === true }),
    );
  });
}

/** The last lines of a tool's error output, on one line, with the module proxy's address left out. */
const lastLines = (text, n = 3) =>
  text
    .trim()
    .split('\n')
    .slice(-n)
    .join(' / ')
    .replace(/reading https?:\/\/[^\s/]+\//g, 'reading (module proxy) ')
    .replace(/\s+/g, ' ');

/** The `flagd: VERSION (COMMIT), built at: DATE` line of `flagd version`, or undefined if the binary does not run. */
async function versionOf(bin) {
  const r = await exec(bin, ['version'], { timeoutMs: 10_000 });
  if (r.code !== 0) return undefined;
  // An ASCII-art banner comes first.
  return /^flagd: .*$/m.exec(r.stdout + r.stderr)?.[0].trim() ?? 'flagd (version unknown)';
}

/** Go module directories (a go.mod at depth ≤ 3) under dir. */
function goModules(dir, depth = 0) {
  if (existsSync(join(dir, 'go.mod'))) return [dir];
  if (depth >= 3) return [];
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.') || name === 'node_modules' || name === 'vendor') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...goModules(p, depth + 1));
  }
  return out;
}

/**
 * Finds or builds flagd. Resolves {bin, version, how, attempts} or {bin: undefined, attempts},
 * attempts being one line per step tried ("what: outcome").
 */
export async function findFlagd({ build = true, log = () => {} } = {}) {
  const attempts = [];
  const take = async (bin, how) => {
    const version = await versionOf(bin);
    if (version === undefined) {
      attempts.push(`${how}: ${bin} does not run (\`flagd version\` failed)`);
      return undefined;
    }
    return { bin, version, how, attempts };
  };
  if (process.env.SLUICE_FLAGD) {
    const found = await take(resolve(process.env.SLUICE_FLAGD), '$SLUICE_FLAGD');
    if (found) return found;
  }
  const cached = join(CACHE, 'flagd');
  const story = join(CACHE, 'how.txt');
  if (existsSync(cached)) {
    const how = existsSync(story) ? readFileSync(story, 'utf8').trim() : 'how it was built was not recorded';
    const found = await take(cached, `cached in ${cached}; when it was built: ${how}`);
    if (found) return found;
  } else attempts.push(`cache: no ${cached}`);
  if (!build) return { bin: undefined, attempts };

  const go = await exec('go', ['version'], { timeoutMs: 10_000 });
  if (go.code !== 0) {
    attempts.push('go: not installed (Debian: apt-get install golang-go), so flagd cannot be built');
    return { bin: undefined, attempts };
  }
  mkdirSync(CACHE, { recursive: true });
  log(`building flagd ${FLAGD_VERSION} with ${go.stdout.trim()} (once; cached in ${CACHE})`);
  const install = await exec('go', ['install', `${FLAGD_MODULE}@${FLAGD_VERSION}`], {
    env: { GOBIN: CACHE, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
    timeoutMs: BUILD_TIMEOUT_MS,
  });
  if (install.code === 0 && existsSync(cached)) {
    const found = await take(cached, `\`go install ${FLAGD_MODULE}@${FLAGD_VERSION}\``);
    if (found) return found;
  } else attempts.push(`\`go install ${FLAGD_MODULE}@${FLAGD_VERSION}\`: ${install.killed ? 'timed out' : lastLines(install.stderr, 2)}`);

  const src = process.env.SLUICE_FLAGD_SRC;
  if (!src) {
    attempts.push('$SLUICE_FLAGD_SRC: not set (a directory with flagd’s source, to build it without the module proxy serving it)');
    return { bin: undefined, attempts };
  }
  const modules = goModules(resolve(src));
  const main = modules.find((m) => /^module\s+github\.com\/open-feature\/flagd\/flagd\s*$/m.test(readFileSync(join(m, 'go.mod'), 'utf8')));
  if (main === undefined) {
    attempts.push(`$SLUICE_FLAGD_SRC=${src}: no go.mod of module ${FLAGD_MODULE} under it`);
    return { bin: undefined, attempts };
  }
  // Build a copy of the main module whose go.mod replaces every other module found with its
  // directory (the source tree itself is left as it is).
  const work = mkdtempSync(join(os.tmpdir(), 'sluice-flagd-build-'));
  try {
    cpSync(main, join(work, 'flagd'), { recursive: true });
    const others = modules.filter((m) => m !== main);
    const replaces = others.flatMap((m) => {
      const path = /^module\s+(\S+)/m.exec(readFileSync(join(m, 'go.mod'), 'utf8'))?.[1];
      return path ? [`-replace=${path}=${m}`] : [];
    });
    const edit = await exec('go', ['mod', 'edit', ...replaces], { cwd: join(work, 'flagd'), env: { GOWORK: 'off' } });
    if (edit.code !== 0) {
      attempts.push(`go mod edit in a copy of ${main}: ${lastLines(edit.stderr)}`);
      return { bin: undefined, attempts };
    }
    const ldflags = `-X main.version=${FLAGD_VERSION} -X main.commit=source -X main.date=${new Date().toISOString().slice(0, 10)}`;
    const built = await exec('go', ['build', '-trimpath', '-ldflags', ldflags, '-o', cached, '.'], {
      cwd: join(work, 'flagd'),
      env: { GOWORK: 'off', GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
      timeoutMs: BUILD_TIMEOUT_MS,
    });
    if (built.code !== 0) {
      attempts.push(`go build from $SLUICE_FLAGD_SRC (${modules.length} modules): ${built.killed ? 'timed out' : lastLines(built.stderr, 3)}`);
      return { bin: undefined, attempts };
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const how = `built with ${go.stdout.trim()} from the source in ${src} (${modules.map((m) => relative(resolve(src), m) || '.').join(', ')}; the other modules as replace directives of flagd's go.mod), as ${attempts.filter((a) => a.startsWith('`go install')).join('; ') || 'go install was not tried'}`;
  writeFileSync(story, `${how}\n`);
  const found = await take(cached, how);
  return found ?? { bin: undefined, attempts };
}

/** POSTs one OFREP evaluation; resolves {status, body}. */
export function ofrepEvaluate(port, key, context, token) {
  return new Promise((done, fail) => {
    const body = JSON.stringify({ context });
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const req = http.request(
      { host: '127.0.0.1', port, method: 'POST', path: `/ofrep/v1/evaluate/flags/${encodeURIComponent(key)}`, headers, agent: false, timeout: 5000 },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (data += c));
        res.on('end', () => done({ status: res.statusCode, body: data }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout on 127.0.0.1:${port}`)));
    req.on('error', fail);
    req.end(body);
  });
}

/** Polls until an OFREP evaluation of `key` answers 200, or throws after timeoutMs. */
export async function waitForOfrep(port, key, { token, timeoutMs = 15_000, child } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    if (child !== undefined && child.exitCode !== null) throw new Error(`process for OFREP port ${port} exited with code ${child.exitCode}`);
    try {
      const r = await ofrepEvaluate(port, key, { targetingKey: 'probe' }, token);
      if (r.status === 200) return JSON.parse(r.body);
      last = `${r.status} ${r.body.slice(0, 200)}`;
    } catch (err) {
      last = err.message;
    }
    if (Date.now() > deadline) throw new Error(`OFREP on 127.0.0.1:${port} did not evaluate ${key} within ${timeoutMs} ms (last: ${last})`);
    await sleep(100);
  }
}

/**
 * Starts flagd on a flag file, every port on a free one, and waits for its OFREP port to
 * evaluate `probeKey`. Resolves {child, ofrepPort, args}.
 */
export async function startFlagd(bin, flagFile, probeKey, logFile) {
  const ports = { port: await freePort(), 'management-port': await freePort(), 'ofrep-port': await freePort(), 'sync-port': await freePort() };
  const args = ['start', '--uri', `file:${flagFile}`, ...Object.entries(ports).flatMap(([k, v]) => [`--${k}`, String(v)])];
  const child = startProcess(bin, args, { logFile });
  await waitForOfrep(ports['ofrep-port'], probeKey, { child });
  return { child, ofrepPort: ports['ofrep-port'], args };
}

/**
 * The reference: the same flag document in @openfeature/flagd-core behind a bare node:http
 * server answering OFREP single-flag evaluations (no auth, no counters, no persistence).
 */
export async function serveCore(port, flagFile) {
  const { FlagdCore } = await import('@openfeature/flagd-core');
  const quiet = { error() {}, warn() {}, info() {}, debug() {} };
  const core = new FlagdCore(undefined, quiet);
  core.setConfigurations(readFileSync(flagFile, 'utf8'));
  const PREFIX = '/ofrep/v1/evaluate/flags/';
  const send = (res, status, obj) => {
    const body = JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const server = http.createServer((req, res) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      if (req.method !== 'POST' || !req.url.startsWith(PREFIX)) return send(res, 404, { errorCode: 'GENERAL', errorDetails: 'not an OFREP evaluation' });
      const key = decodeURIComponent(req.url.slice(PREFIX.length));
      let context;
      try {
        context = JSON.parse(data || '{}').context ?? {};
      } catch {
        return send(res, 400, { key, errorCode: 'PARSE_ERROR', errorDetails: 'body is not JSON' });
      }
      const flag = core.getFlag(key);
      if (flag === undefined) return send(res, 404, { key, errorCode: 'FLAG_NOT_FOUND' });
      const r = flag.evaluate(context, quiet);
      if (r.errorCode) return send(res, 400, { key, errorCode: r.errorCode, errorDetails: r.errorMessage });
      send(res, 200, { key, value: r.value, reason: r.reason, variant: r.variant, metadata: r.flagMetadata ?? {} });
    });
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return server;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'find') {
    const r = await findFlagd({ log: (l) => console.error(l) });
    if (r.bin) console.log(`${r.bin}\t${r.version}\t${r.how}`);
    else console.log(`flagd not available:\n${r.attempts.map((a) => `- ${a}`).join('\n')}`);
    process.exit(r.bin ? 0 : 1);
  } else if (cmd === 'serve-core') {
    const { values } = parseArgs({ args: rest, options: { port: { type: 'string' }, file: { type: 'string' } } });
    const port = Number(values.port);
    if (!(port > 0 && port < 65536) || !values.file) {
      console.error('serve-core: --port 1..65535 and --file FLAGS.json are required');
      process.exit(2);
    }
    await serveCore(port, values.file);
    console.error(`flagd-core OFREP reference on 127.0.0.1:${port} (${values.file})`);
  } else {
    console.error(
      `usage: node ${dirname(fileURLToPath(import.meta.url))
        .split('/')
        .slice(-2)
        .join('/')}/flagd.mjs find | serve-core --port P --file FLAGS.json`,
    );
    process.exit(2);
  }
}
