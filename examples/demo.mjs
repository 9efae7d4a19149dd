// The demo: `npm run demo`. Starts sluice, deploys v1 of the demo app (3 instances),
// puts load on it, walks a canary to v2 live in the terminal, then undoes it back to v1,
// and stops everything. Traffic goes only to 127.0.0.1; it ends by itself in ~2 minutes.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { ApiClient } from '../dist/src/api/client.js';
import { renderRolloutView } from '../dist/src/cli/render.js';

const examples = dirname(fileURLToPath(import.meta.url));
const repo = dirname(examples);
const bin = join(repo, 'bin', 'sluice.js');
const stateDir = join(repo, '.sluice-demo');
const name = 'demo-canary';
const tty = process.stdout.isTTY;
const RATE = 50;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function say(line) {
  process.stdout.write(`\x1b[1m» ${line}\x1b[0m\n`);
}

function sluice(...args) {
  const r = spawnSync(process.execPath, [bin, '--state-dir', stateDir, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sluice ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer().once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function pickPort(preferred) {
  if (preferred && (await portFree(preferred))) return preferred;
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Open-loop load at RATE requests/s, counting answers per version over the last second.
 * `stop()` stops sending and lets the requests in flight finish (a few seconds at most), so
 * the final count is sent = 2xx + failed (+ any still unanswered at the end, shown apart).
 */
function startLoad(port) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const totals = { sent: 0, ok: 0, failed: 0, unanswered: 0, versions: {} };
  let recent = [];
  let inFlight = 0;
  let stopped = false;
  const timer = setInterval(() => {
    totals.sent++;
    inFlight++;
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent, timeout: 10_000 }, (res) => {
      res.resume();
      inFlight--;
      const version = res.headers['x-version'] ?? '?';
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      ok ? totals.ok++ : totals.failed++;
      totals.versions[version] = (totals.versions[version] ?? 0) + 1;
      recent.push({ at: Date.now(), version: ok ? version : `HTTP ${res.statusCode}` });
    });
    req.on('error', () => {
      inFlight--;
      // Cut off by stop() itself: not a failure of the release.
      if (stopped) return;
      totals.failed++;
      recent.push({ at: Date.now(), version: 'error' });
    });
  }, 1000 / RATE);
  return {
    totals,
    lastSecond() {
      recent = recent.filter((r) => r.at > Date.now() - 1000);
      const counts = {};
      for (const r of recent) counts[r.version] = (counts[r.version] ?? 0) + 1;
      return Object.entries(counts)
        .sort()
        .map(([v, n]) => `${v} ${Math.round((n * 100) / recent.length)}%`)
        .join('  ');
    },
    async stop() {
      clearInterval(timer);
      for (let waited = 0; inFlight > 0 && waited < 5000; waited += 50) await sleep(50);
      stopped = true;
      totals.unanswered = inFlight;
      agent.destroy();
    },
  };
}

async function watchUntil(client, load, done, { autoPromote = true } = {}) {
  let pausedSince;
  for (;;) {
    const view = await client.get(name);
    const frame = `${renderRolloutView(view, Date.now(), { events: 6 })}\n\nlive traffic (last second): ${load.lastSecond()}   total ${load.totals.sent} sent, ${load.totals.failed} failed\n`;
    if (tty) process.stdout.write(`\x1b[2J\x1b[H${frame}`);
    if (done(view)) return view;
    const indefinite = view.status.pauses.some((p) => p.reason === 'CanaryPauseStep' && p.until === undefined);
    if (indefinite && autoPromote) {
      pausedSince ??= Date.now();
      if (Date.now() - pausedSince > 4000) {
        say(`paused until promoted — the demo runs: sluice promote ${name}`);
        sluice('promote', name);
        pausedSince = undefined;
      }
    }
    if (!tty) process.stdout.write(`${view.status.phase} ${view.status.reason}: ${view.status.message} | ${load.lastSecond()}\n`);
    await sleep(1000);
  }
}

async function main() {
  mkdirSync(stateDir, { recursive: true });
  if (existsSync(join(stateDir, 'api.json'))) spawnSync(process.execPath, [bin, '--state-dir', stateDir, 'down'], { stdio: 'ignore' });

  const [listen, canaryListen, api, admin] = [await pickPort(8080), await pickPort(8082), await pickPort(), await pickPort()];
  const doc = parseDocument(readFileSync(join(examples, 'canary.yaml'), 'utf8'));
  doc.setIn(['metadata', 'name'], name);
  doc.setIn(['spec', 'template', 'cwd'], examples);
  doc.setIn(['spec', 'traffic', 'listen'], `127.0.0.1:${listen}`);
  doc.setIn(['spec', 'strategy', 'canary', 'canaryListen'], `127.0.0.1:${canaryListen}`);
  const manifest = join(stateDir, 'canary.yaml');
  writeFileSync(manifest, doc.toString());

  say(`starting sluice (state in ${stateDir})`);
  // Its output goes to a file, not a pipe: a pipe nobody reads (while the demo waits in
  // spawnSync) would block the control plane's writes.
  const logFile = join(stateDir, 'control-plane.log');
  const logFd = openSync(logFile, 'a');
  const up = spawn(process.execPath, [bin, 'up', '--state-dir', stateDir, '--api', `127.0.0.1:${api}`, '--router-admin', `127.0.0.1:${admin}`], {
    stdio: ['ignore', logFd, logFd],
  });
  let client;
  for (let i = 0; ; i++) {
    try {
      client = ApiClient.fromStateDir(stateDir, 'demo');
      await client.list();
      break;
    } catch (err) {
      if (i > 150 || up.exitCode !== null) throw new Error(`sluice up did not start (${err.message}); see ${logFile}`);
      await sleep(100);
    }
  }

  let load;
  const stopAll = async () => {
    load?.stop();
    spawnSync(process.execPath, [bin, '--state-dir', stateDir, 'down'], { stdio: 'inherit' });
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));

  try {
    say(`sluice apply -f examples/canary.yaml  (v1, 3 instances, served on 127.0.0.1:${listen})`);
    sluice('apply', '-f', manifest);
    await watchUntil(client, { lastSecond: () => '', totals: { sent: 0, failed: 0 } }, (v) => v.status.phase === 'Healthy');
    load = startLoad(listen);
    say(`load: ${RATE} requests/s on 127.0.0.1:${listen}`);
    await sleep(2000);

    say(`sluice set ${name} --version v2 --env VERSION=v2   (canary: 20% → pause 10s → 50% → pause → 80% → 100%)`);
    sluice('set', name, '--version', 'v2', '--env', 'VERSION=v2');
    await watchUntil(
      client,
      load,
      (v) =>
        v.status.phase === 'Healthy' &&
        v.status.stableRevision === v.status.currentRevision &&
        v.instances.every((i) => i.revision === v.status.stableRevision),
    );
    say(`v2 promoted. ${load.totals.sent} requests so far, ${load.totals.failed} failed`);
    await sleep(2000);

    say(`sluice undo ${name}   (rolls forward to v1's template through the same steps)`);
    sluice('undo', name);
    const final = await watchUntil(
      client,
      load,
      (v) =>
        v.status.phase === 'Healthy' &&
        v.status.stableRevision === v.status.currentRevision &&
        v.instances.every((i) => i.revision === v.status.stableRevision),
    );
    await sleep(1000);
    await load.stop();
    process.stdout.write(`\n${sluice('history', name)}\n\n`);
    say(
      `done: back on ${final.revisions.find((r) => r.number === final.status.stableRevision)?.template.version}; ${load.totals.sent} requests sent, ${load.totals.ok} answered 2xx, ${load.totals.failed} failed${load.totals.unanswered ? `, ${load.totals.unanswered} still in flight when the demo stopped` : ''}; versions seen ${JSON.stringify(load.totals.versions)}`,
    );
    say('try it yourself: node bin/sluice.js up -d; node bin/sluice.js apply -f examples/canary.yaml; node bin/sluice.js get rollout demo-canary --watch');
  } finally {
    say('stopping everything (sluice down)');
    await stopAll();
  }
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${err.message}\n`);
  spawnSync(process.execPath, [bin, '--state-dir', stateDir, 'down'], { stdio: 'ignore' });
  process.exit(1);
});
