/**
 * Issue 10, finding 7, against a real control plane: a rollout with a plain `DB_PASSWORD`
 * env value, a database URL with a password, a notification secret and a header token.
 * None of those values may appear in `get` (table, yaml, json), history, events, what a real
 * webhook receiver gets, or the control plane's log (what `up -d` writes to
 * control-plane.log) — while the instance itself still runs with them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { SluiceUnderTest, healthyOn } from '../helpers/sluice.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { freePort } from '../helpers/ports.js';
import { sleep, waitFor } from '../helpers/wait.js';

const SECRETS = {
  password: 'hunter2-plain-secret',
  urlPassword: 'url-pass-4711',
  notifySecret: 'notify-hmac-secret-99',
  headerToken: 'hdr-tok-5555',
  setPassword: 'set-secret-777',
};

let sluice: SluiceUnderTest;
let receiver: Server;
const received: string[] = [];

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push(JSON.stringify(req.headers) + body);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const hookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/events`;
  sluice = await SluiceUnderTest.start();
  const port = await freePort();
  const extra =
    `  notifications:\n` +
    `    - {name: ops, type: webhook, url: "${hookUrl}", secret: ${SECRETS.notifySecret}, events: ["*"], headers: {X-Api-Token: "${SECRETS.headerToken}"}}\n`;
  await sluice.apply(
    'web.yaml',
    rolloutManifest({
      version: 'v1',
      listen: port,
      replicas: 1,
      strategy: '    rolling: {}\n',
      env: { DB_PASSWORD: SECRETS.password, DATABASE_URL: `postgres://app:${SECRETS.urlPassword}@db.local/app`, GREETING: 'hello-visible' },
      extra,
    }),
  );
  await waitFor(sluice.rollout('web', healthyOn(1, 1)), { timeoutMs: 60_000, what: 'healthy on 1' });
  const set = await sluice.cli(['set', 'web', '--env', `DB_PASSWORD=${SECRETS.setPassword}`]);
  assert.equal(set.code, 0, set.stderr);
  await waitFor(sluice.rollout('web', healthyOn(2, 1)), { timeoutMs: 60_000, what: 'healthy on 2' });
  // Notifications are queued; give the receiver the events of the release.
  for (let i = 0; i < 50 && !received.some((b) => b.includes('RolloutCompleted') && b.includes('"revision":2')); i++) await sleep(100);
});
after(async () => {
  await sluice?.down();
  receiver?.close();
});

function assertNoSecret(where: string, text: string): void {
  for (const [what, value] of Object.entries(SECRETS)) assert.ok(!text.includes(value), `${where} shows the ${what} (${value})`);
}

test('get (table, yaml, json), get rollouts, history and get analysis show no secret value', async () => {
  const outputs: [string, string][] = [];
  for (const args of [
    ['get', 'rollout', 'web'],
    ['get', 'rollout', 'web', '-o', 'yaml'],
    ['get', 'rollout', 'web', '-o', 'json'],
    ['get', 'rollouts', '-o', 'json'],
    ['history', 'web', '-o', 'json'],
    ['get', 'analysis', 'web', '-o', 'json'],
  ]) {
    const r = await sluice.cli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    outputs.push([args.join(' '), r.stdout]);
  }
  for (const [where, text] of outputs) assertNoSecret(where, text);
  const yaml = outputs[1]![1];
  assert.match(yaml, /DB_PASSWORD: <redacted>/, 'the key is shown, its value hidden');
  assert.match(yaml, /postgres:\/\/app:<redacted>@db\.local\/app/, 'the URL is shown without its password');
  assert.match(yaml, /hello-visible/, 'values that are not secret are still shown');
});

test('events name the changed key, never its value', async () => {
  const r = await sluice.cli(['events', 'web']);
  assert.equal(r.code, 0, r.stderr);
  assertNoSecret('events', r.stdout);
  assert.match(r.stdout, /set \+DB_PASSWORD: revision 2/);
  assertNoSecret('events -o json', (await sluice.cli(['events', 'web', '-o', 'json'])).stdout);
});

test('no notification body carries a secret value, and notifications did arrive', () => {
  assert.ok(received.length > 0, 'the receiver got notifications');
  assert.ok(
    received.some((b) => b.includes('DB_PASSWORD')),
    'the set event was notified',
  );
  for (const body of received) assertNoSecret('a notification', body.replace(SECRETS.headerToken, ''));
  assert.ok(
    received.every((b) => b.includes(SECRETS.headerToken)),
    'the configured header itself is still sent',
  );
});

test("the control plane's log has no secret value", () => {
  assertNoSecret('the control-plane log', sluice.log());
});

test('redaction is for display only: the instance runs with the real value', async () => {
  const v = await sluice.get('web');
  const pid = v.instances.find((i) => i.phase === 'Ready')?.pid;
  assert.ok(pid, 'a ready instance with a pid');
  const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  assert.ok(env.includes(`DB_PASSWORD=${SECRETS.setPassword}`), 'the instance got the value set');
});

test('sluice logs shows the instance output through the API (Platform.readLogs), with no secret value', async () => {
  const r = await sluice.cli(['logs', 'web', '--revision', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /demo-app v1 listening on 127\.0\.0\.1:\d+/);
  assertNoSecret('sluice logs', r.stdout);
  const none = await sluice.cli(['logs', 'web', '--instance', 'web-r9-nosuch']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /rollout "web" has no running instance with id web-r9-nosuch/);
});
