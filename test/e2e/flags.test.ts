/**
 * Acceptance (feature flags issue): the official OpenFeature OFREP providers — server
 * (`@openfeature/server-sdk` + `@openfeature/ofrep-provider`) and web (`@openfeature/web-sdk`
 * + `@openfeature/ofrep-web-provider`) — evaluate flags of every type against a running
 * `sluice up`; a canary's `setFlag` step ramps a flag and its abort kills it for every client
 * within a second; OFREP keeps answering through `kill -9` of the control plane and a router
 * restart without one failed evaluation.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { OpenFeature as ServerFeatures } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature as WebFeatures } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
import { SluiceUnderTest, healthyOn } from '../helpers/sluice.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { freePort } from '../helpers/ports.js';
import { LoadGenerator } from '../helpers/load.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { ofrepCall, pollFlag } from '../helpers/ofrep.js';

let sluice: SluiceUnderTest;
let token: string;
let base: string;

const FLAGS = `apiVersion: sluice.dev/v1alpha1
kind: FeatureFlags
metadata:
  name: shop
spec:
  flags:
    premium-search:
      owner: team-search
      variants: {on: true, off: false}
      defaultVariant: "off"
      enable:
        segments: [premium]
    banner:
      owner: team-web
      variants: {plain: "Welcome", festive: "Happy holidays"}
      defaultVariant: plain
      targeting:
        if:
          - {"==": [{var: country}, "DE"]}
          - festive
          - null
    page-size:
      owner: team-web
      variants: {small: 10, large: 50}
      defaultVariant: small
      targeting:
        if: [{starts_with: [{var: email}, "admin@"]}, large, null]
    theme:
      owner: team-web
      variants:
        light: {background: white, accent: blue}
        dark: {background: black, accent: orange}
      defaultVariant: light
      targeting:
        fractional:
          - {cat: [{var: $flagd.flagKey}, {var: targetingKey}]}
          - [dark, 50]
          - [light, 50]
---
apiVersion: sluice.dev/v1alpha1
kind: FeatureFlag
metadata:
  name: new-checkout
spec:
  owner: team-payments
  description: the one-page checkout
  enable:
    percentage: 0
`;

before(async () => {
  sluice = await SluiceUnderTest.start();
  await sluice.apply('flags.yaml', FLAGS);
  const t = await sluice.cli(['flags', 'token']);
  assert.equal(t.code, 0, t.stderr);
  token = t.stdout.trim().split(/\s+/).pop()!;
  base = `http://127.0.0.1:${sluice.flagsPort}`;
  await ServerFeatures.setProviderAndWait(new OFREPProvider({ baseUrl: base, headers: [['Authorization', `Bearer ${token}`]] }));
});
after(async () => {
  await ServerFeatures.close();
  await WebFeatures.close();
  await sluice?.down();
});

/** One OFREP call with the client token: status, parsed body and ETag. */
const ofrep = (path: string, body: unknown, headers: Record<string, string> = {}) => ofrepCall(base, token, path, body, headers);

test('the server provider evaluates boolean, string, number and object flags with targeting', async () => {
  const client = ServerFeatures.getClient();
  const premium = await client.getBooleanDetails('premium-search', false, { targetingKey: 'u1', segment: 'premium' });
  assert.equal(premium.value, true);
  assert.equal(premium.variant, 'on');
  assert.equal(premium.reason, 'TARGETING_MATCH');
  assert.equal((await client.getBooleanDetails('premium-search', true, { targetingKey: 'u2', segment: 'free' })).value, false);
  assert.equal(await client.getStringValue('banner', 'x', { targetingKey: 'u1', country: 'DE' }), 'Happy holidays');
  assert.equal(await client.getStringValue('banner', 'x', { targetingKey: 'u1', country: 'FR' }), 'Welcome');
  assert.equal(await client.getNumberValue('page-size', 0, { targetingKey: 'u1', email: 'admin@shop.test' }), 50);
  assert.equal(await client.getNumberValue('page-size', 0, { targetingKey: 'u1', email: 'ann@shop.test' }), 10);
  const theme = await client.getObjectDetails('theme', {}, { targetingKey: 'u1' });
  assert.ok(['dark', 'light'].includes(theme.variant ?? ''), JSON.stringify(theme));
  assert.equal(typeof (theme.value as { background?: unknown }).background, 'string');
});

test('a fractional split assigns about half of 1,000 users, each one the same every time', async () => {
  const client = ServerFeatures.getClient();
  let dark = 0;
  for (let i = 0; i < 1000; i++) {
    const first = await client.getObjectDetails('theme', {}, { targetingKey: `user-${i}` });
    const again = await client.getObjectDetails('theme', {}, { targetingKey: `user-${i}` });
    assert.equal(again.variant, first.variant, `user-${i} keeps its variant`);
    if (first.variant === 'dark') dark++;
  }
  assert.ok(dark > 440 && dark < 560, `${dark} of 1000 users got dark at 50 %`);
});

test('a missing flag falls back to the default with FLAG_NOT_FOUND; a bad token is refused with 401', async () => {
  const missing = await ServerFeatures.getClient().getBooleanDetails('no-such-flag', true, { targetingKey: 'u1' });
  assert.equal(missing.value, true);
  assert.equal(missing.errorCode, 'FLAG_NOT_FOUND');
  const raw = await ofrep('/ofrep/v1/evaluate/flags/no-such-flag', { context: { targetingKey: 'u1' } });
  assert.equal(raw.status, 404);
  assert.equal(raw.body?.errorCode, 'FLAG_NOT_FOUND');
  const wrong = await ofrep('/ofrep/v1/evaluate/flags/banner', { context: { targetingKey: 'u1' } }, { authorization: 'Bearer not-a-token' });
  assert.equal(wrong.status, 401);
  const none = await fetch(`${base}/ofrep/v1/evaluate/flags/banner`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"context":{}}',
  });
  assert.equal(none.status, 401);
});

test('an unchanged bulk request answers 304 to its ETag', async () => {
  const first = await ofrep('/ofrep/v1/evaluate/flags', { context: { targetingKey: 'u1', country: 'DE' } });
  assert.equal(first.status, 200);
  assert.ok(first.etag, 'bulk answers carry an ETag');
  const keys = (first.body?.flags ?? []).map((f) => f.key).sort();
  assert.deepEqual(keys, ['banner', 'new-checkout', 'page-size', 'premium-search', 'theme']);
  const second = await ofrep('/ofrep/v1/evaluate/flags', { context: { targetingKey: 'u1', country: 'DE' } }, { 'if-none-match': first.etag! });
  assert.equal(second.status, 304);
  const other = await ofrep('/ofrep/v1/evaluate/flags', { context: { targetingKey: 'u1', country: 'FR' } }, { 'if-none-match': first.etag! });
  assert.equal(other.status, 200, 'another context is another answer');
});

test('the web provider evaluates every type for its context', async () => {
  await WebFeatures.setContext({ targetingKey: 'u7', segment: 'premium', country: 'DE', email: 'admin@shop.test' });
  await WebFeatures.setProviderAndWait(new OFREPWebProvider({ baseUrl: base, headers: [['Authorization', `Bearer ${token}`]] }));
  const web = WebFeatures.getClient();
  assert.equal(web.getBooleanValue('premium-search', false), true);
  assert.equal(web.getStringValue('banner', 'x'), 'Happy holidays');
  assert.equal(web.getNumberValue('page-size', 0), 50);
  assert.ok(['white', 'black'].includes((web.getObjectValue('theme', {}) as { background: string }).background));
  assert.equal(web.getBooleanDetails('no-such-flag', true).errorCode, 'FLAG_NOT_FOUND');
});

/** A client of the change stream (SSE): the time of every event it got. */
function watchChanges() {
  const events: number[] = [];
  const req = http.get(`${base}/ofrep/v1/flags/changes`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (/^data:/m.test(chunk)) events.push(Date.now());
    });
    res.on('error', () => {});
  });
  req.on('error', () => {});
  return { events, close: () => req.destroy() };
}

test('a canary with setFlag and killOnAbort: the flag ramps with the release and is off for every client within 1 s of the abort', async () => {
  const port = await freePort();
  const strategy = `    canary:
      analysis:
        metrics:
          - name: error-rate
            interval: 1s
            successCondition: result <= 0.02
            provider: {builtin: {metric: error-rate, windowSeconds: 5, minRequests: 20}}
      steps:
        - setFlag: {flag: new-checkout, percentage: 100}
        - setWeight: 20
        - pause: {duration: 30s}
`;
  const extra = `  flags:
    killOnAbort: [new-checkout]
`;
  await sluice.apply('web.yaml', rolloutManifest({ version: 'v1', listen: port, strategy, extra }));
  await waitFor(sluice.rollout('web', healthyOn(1)), { timeoutMs: 60_000, what: 'v1 healthy' });
  const load = new LoadGenerator(port, 100, 60);
  await sluice.apply('web.yaml', rolloutManifest({ version: 'v2', listen: port, strategy, extra, env: { ERROR_RATE: '0.2' } }));
  const onFor = async () => (await ofrep('/ofrep/v1/evaluate/flags/new-checkout', { context: { targetingKey: 'someone' } })).body?.value === true;
  await waitFor(async () => (await onFor()) || undefined, { timeoutMs: 30_000, what: 'setFlag turned new-checkout on for everyone' });
  const poller = pollFlag(base, token, 'new-checkout', 20);
  const stream = watchChanges();
  const aborted = await waitFor(
    sluice.rollout('web', (x) => x.status.phase === 'Degraded'),
    { timeoutMs: 60_000, what: 'canary aborted by its analysis' },
  );
  await sleep(1500);
  const seen = await poller.stop();
  stream.close();
  await load.stop();
  const abort = aborted.events.find((e) => e.reason === 'AnalysisFailed' || /abort/i.test(e.reason));
  const abortAt = abort?.at ?? aborted.status.updatedAt;
  const firstOff = seen.find((s) => s.at >= abortAt && s.value === false);
  assert.ok(firstOff, `the poller saw the flag off after the abort: ${JSON.stringify(seen.slice(-5))}`);
  console.log(`killOnAbort: off for the polling client ${firstOff.at - abortAt} ms after the abort`);
  assert.ok(firstOff.at - abortAt <= 1000, `off within 1 s of the abort (took ${firstOff.at - abortAt} ms)`);
  assert.ok(!seen.some((s) => s.at > firstOff.at && s.value !== false), 'stays off');
  const change = stream.events.find((t) => t >= abortAt - 50);
  assert.ok(change !== undefined, 'the change stream told its client');
  console.log(`killOnAbort: change event ${change - abortAt} ms after the abort`);
  assert.ok(change - abortAt <= 1000, `change event within 1 s (took ${change - abortAt} ms)`);
  const history = await sluice.cli(['flags', 'history', 'new-checkout', '-o', 'json']);
  assert.equal(history.code, 0, history.stderr);
  const text = history.stdout;
  assert.match(text, /web/, 'the flag history names the rollout');
  assert.match(text, /kill|off/i, 'and says it was switched off');
  const rolloutEvents = aborted.events.map((e) => e.message).join('\n');
  await waitFor(
    async () => {
      const v = await sluice.get('web');
      return v.events.some((e) => /new-checkout/.test(e.message)) || undefined;
    },
    { timeoutMs: 5000, what: `the rollout's events name the flag it switched off: ${rolloutEvents}` },
  );
});

test('kill -9 of the control plane and a router restart: OFREP answers throughout, zero failed evaluations', async () => {
  const poller = pollFlag(base, token, 'banner', 10);
  await sleep(500);
  await sluice.kill9();
  await sleep(3000);
  const whileDown = poller.seen.length;
  await sluice.up();
  await sleep(500);
  const restart = await sluice.cli(['router', 'restart']);
  assert.equal(restart.code, 0, restart.stderr);
  await sleep(1000);
  const seen = await poller.stop();
  assert.ok(whileDown > 100, `evaluations kept coming while the control plane was down (${whileDown})`);
  assert.deepEqual(poller.failures(), [], `every one of ${seen.length} evaluations answered 200`);
  assert.ok(seen.every((s) => s.value === 'Welcome'));
});
