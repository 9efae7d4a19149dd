/**
 * Traffic issue, first part: the playbooks' header routing cases through the router, as
 * canary `setHeaderRoute` steps (Argo Rollouts semantics: added by a step, removed at
 * promotion or abort).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SluiceUnderTest, healthyOn } from '../helpers/sluice.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { freePort } from '../helpers/ports.js';
import { sleep, waitFor } from '../helpers/wait.js';

let sluice: SluiceUnderTest;
before(async () => {
  sluice = await SluiceUnderTest.start();
});
after(async () => {
  await sluice?.down();
});

/**
 * Status is saved a moment before the router acknowledges the table it implies, so the
 * first check after a state change waits (up to 5 s) for the routing to show.
 */
async function routedTo(port: number, headers: Record<string, string>, expected: string[]): Promise<void> {
  let got: string[] = [];
  const routed = async () => JSON.stringify((got = await versionFor(port, headers, 5))) === JSON.stringify(expected);
  // A timeout is not the failure to report: the assertion below shows what was routed last.
  await waitFor(routed, { timeoutMs: 5000, what: `${JSON.stringify(headers)} routed to ${expected.join(', ')}` }).catch(() => undefined);
  assert.deepEqual(got, expected);
}

async function versionFor(port: number, headers: Record<string, string>, times = 20): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < times; i++) {
    const r = await fetch(`http://127.0.0.1:${port}/`, { headers });
    await r.text();
    seen.push(r.headers.get('x-version') ?? '?');
  }
  return [...new Set(seen)];
}

test('header routes send testers to the canary at weight 0, and go away at promotion', async () => {
  const port = await freePort();
  const strategy = `    canary:
      steps:
        - setHeaderRoute: {name: testers, match: [{headerName: X-Canary, headerValue: {exact: "true"}}]}
        - setHeaderRoute: {name: staff, match: [{headerName: x-user-email, headerValue: {regex: ".*@example\\\\.com"}}]}
        - setHeaderRoute: {name: debug, match: [{headerName: end-user, headerValue: {exact: debug}}]}
        - pause: {}
        - setWeight: 50
        - pause: {}
`;
  await sluice.apply('routes.yaml', rolloutManifest({ name: 'routes', version: 'v1', listen: port, strategy }));
  await waitFor(sluice.rollout('routes', healthyOn(1)), { timeoutMs: 60_000, what: 'v1 healthy' });
  await sluice.apply('routes.yaml', rolloutManifest({ name: 'routes', version: 'v2', listen: port, strategy }));
  await waitFor(
    sluice.rollout('routes', (v) => v.status.reason === 'CanaryPauseStep' && v.status.stepIndex === 3),
    { timeoutMs: 60_000, what: 'paused with routes' },
  );
  await routedTo(port, { 'end-user': 'debug' }, ['v2']);

  assert.deepEqual(await versionFor(port, {}), ['v1'], 'weight 0: everyone else on v1');
  assert.deepEqual(await versionFor(port, { 'X-Canary': 'true' }), ['v2']);
  assert.deepEqual(await versionFor(port, { 'X-Canary': 'false' }), ['v1']);
  assert.deepEqual(await versionFor(port, { 'x-user-email': 'ana@example.com' }), ['v2']);
  assert.deepEqual(await versionFor(port, { 'x-user-email': 'ana@example.com.evil.org' }), ['v1'], 'the regex matches the whole value');
  assert.deepEqual(await versionFor(port, { 'end-user': 'debug' }), ['v2']);

  let r = await sluice.cli(['promote', 'routes']);
  assert.equal(r.code, 0, r.stderr);
  await waitFor(
    sluice.rollout('routes', (v) => v.status.stepIndex === 5),
    { timeoutMs: 60_000, what: 'at 50 %' },
  );
  await routedTo(port, {}, ['v1', 'v2']);
  assert.deepEqual(await versionFor(port, { 'X-Canary': 'true' }), ['v2'], 'routes stay until promotion');
  const mixed = await versionFor(port, {});
  assert.deepEqual(mixed.sort(), ['v1', 'v2']);

  r = await sluice.cli(['promote', 'routes', '--full']);
  assert.equal(r.code, 0, r.stderr);
  const done = await waitFor(sluice.rollout('routes', healthyOn(2)), { timeoutMs: 60_000, what: 'v2 healthy' });
  assert.deepEqual(done.status.headerRoutes, []);
  await routedTo(port, {}, ['v2']);
  assert.deepEqual(await versionFor(port, { 'X-Canary': 'true' }), ['v2']);
});

test('a header route is removed at abort', async () => {
  const port = await freePort();
  const strategy = `    canary:
      steps:
        - setHeaderRoute: {name: testers, match: [{headerName: X-Canary, headerValue: {exact: "true"}}]}
        - pause: {}
`;
  await sluice.apply('aborted.yaml', rolloutManifest({ name: 'aborted', version: 'v1', listen: port, strategy }));
  await waitFor(sluice.rollout('aborted', healthyOn(1)), { timeoutMs: 60_000, what: 'v1 healthy' });
  await sluice.apply('aborted.yaml', rolloutManifest({ name: 'aborted', version: 'v2', listen: port, strategy }));
  await waitFor(
    sluice.rollout('aborted', (v) => v.status.reason === 'CanaryPauseStep'),
    { timeoutMs: 60_000, what: 'paused' },
  );
  await routedTo(port, { 'X-Canary': 'true' }, ['v2']);
  const r = await sluice.cli(['abort', 'aborted']);
  assert.equal(r.code, 0, r.stderr);
  await waitFor(
    sluice.rollout('aborted', (v) => v.status.phase === 'Degraded' && v.instances.every((i) => i.revision === 1)),
    { timeoutMs: 60_000, what: 'canary gone' },
  );
  await routedTo(port, { 'X-Canary': 'true' }, ['v1']);
});

test('traffic.sticky by header: each user keeps one revision, and a raised weight never moves a canary user back', async () => {
  const port = await freePort();
  const strategy = `    canary:
      steps:
        - setWeight: 10
        - pause: {}
        - setWeight: 25
        - pause: {}
`;
  const sticky = (v: string) =>
    rolloutManifest({ name: 'sticky', version: v, listen: port, strategy }).replace(
      `listen: 127.0.0.1:${port}`,
      `listen: 127.0.0.1:${port}\n    sticky: {header: x-user}`,
    );
  await sluice.apply('sticky.yaml', sticky('v1'));
  await waitFor(sluice.rollout('sticky', healthyOn(1)), { timeoutMs: 60_000, what: 'v1 healthy' });
  await sluice.apply('sticky.yaml', sticky('v2'));
  await waitFor(
    sluice.rollout('sticky', (v) => v.status.reason === 'CanaryPauseStep' && v.status.stepIndex === 1),
    { timeoutMs: 60_000, what: 'at 10 %' },
  );
  await sleep(500);
  const users = Array.from({ length: 300 }, (_, i) => `user-${i}`);
  const seen = async () => {
    const out = new Map<string, string>();
    for (const u of users) {
      const versions = await versionFor(port, { 'x-user': u }, 3);
      assert.equal(versions.length, 1, `${u} saw ${versions}`);
      out.set(u, versions[0]);
    }
    return out;
  };
  const at10 = await seen();
  const canary10 = [...at10.values()].filter((v) => v === 'v2').length;
  assert.ok(canary10 > 10 && canary10 < 55, `about 10 % of 300 users on the canary: ${canary10}`);
  const r = await sluice.cli(['promote', 'sticky']);
  assert.equal(r.code, 0, r.stderr);
  await waitFor(
    sluice.rollout('sticky', (v) => v.status.reason === 'CanaryPauseStep' && v.status.stepIndex === 3),
    { timeoutMs: 60_000, what: 'at 25 %' },
  );
  await sleep(500);
  const at25 = await seen();
  for (const [u, v] of at10) if (v === 'v2') assert.equal(at25.get(u), 'v2', `${u} moved back to stable`);
  const canary25 = [...at25.values()].filter((v) => v === 'v2').length;
  assert.ok(canary25 > canary10, `more users on the canary at 25 % (${canary25} > ${canary10})`);
});

test('traffic.routes: during a blue-green release, testers reach the new revision on the main address by header or cookie', async () => {
  const port = await freePort();
  const strategy = `    blueGreen: {autoPromotionEnabled: false, scaleDownDelaySeconds: 0}\n`;
  const routes = (v: string) =>
    rolloutManifest({ name: 'bg-routes', version: v, listen: port, strategy }).replace(
      `listen: 127.0.0.1:${port}`,
      `listen: 127.0.0.1:${port}
    routes:
      - {name: testers, match: {header: {name: x-user-segment, exact: beta}}, to: canary}
      - {name: beta-cookie, match: {cookie: {name: beta, exact: "1"}}, to: canary}
      - {name: api-stays, match: {pathPrefix: /api}, to: stable}`,
    );
  await sluice.apply('bg-routes.yaml', routes('v1'));
  await waitFor(sluice.rollout('bg-routes', healthyOn(1)), { timeoutMs: 60_000, what: 'v1 healthy' });
  await sluice.apply('bg-routes.yaml', routes('v2'));
  await waitFor(
    sluice.rollout('bg-routes', (v) => v.status.reason === 'BlueGreenPause'),
    { timeoutMs: 60_000, what: 'preview ready' },
  );
  await routedTo(port, { 'x-user-segment': 'beta' }, ['v2']);
  assert.deepEqual(await versionFor(port, {}), ['v1']);
  assert.deepEqual(await versionFor(port, { 'x-user-segment': 'beta' }), ['v2']);
  assert.deepEqual(await versionFor(port, { 'x-user-segment': 'premium' }), ['v1']);
  assert.deepEqual(await versionFor(port, { cookie: 'session=abc; beta=1' }), ['v2']);
  const r = await sluice.cli(['promote', 'bg-routes']);
  assert.equal(r.code, 0, r.stderr);
  await waitFor(sluice.rollout('bg-routes', healthyOn(2)), { timeoutMs: 60_000, what: 'v2 healthy' });
  await routedTo(port, {}, ['v2']);
});
