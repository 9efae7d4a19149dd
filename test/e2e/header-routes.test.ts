/**
 * Traffic issue, first part: the playbooks' header routing cases through the router, as
 * canary `setHeaderRoute` steps (Argo Rollouts semantics: added by a step, removed at
 * promotion or abort).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SluiceUnderTest, demoManifest, healthyOn } from '../helpers/sluice.js';
import { freePort } from '../helpers/ports.js';

let sluice: SluiceUnderTest;
before(async () => {
  sluice = await SluiceUnderTest.start();
});
after(async () => {
  await sluice?.down();
});

async function versionFor(port: number, headers: Record<string, string>): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < 20; i++) {
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
  await sluice.apply('routes.yaml', demoManifest({ name: 'routes', version: 'v1', listen: port, strategy }));
  await sluice.waitFor('routes', 'v1 healthy', healthyOn(1));
  await sluice.apply('routes.yaml', demoManifest({ name: 'routes', version: 'v2', listen: port, strategy }));
  await sluice.waitFor('routes', 'paused with routes', (v) => v.status.reason === 'CanaryPauseStep' && v.status.stepIndex === 3);

  assert.deepEqual(await versionFor(port, {}), ['v1'], 'weight 0: everyone else on v1');
  assert.deepEqual(await versionFor(port, { 'X-Canary': 'true' }), ['v2']);
  assert.deepEqual(await versionFor(port, { 'X-Canary': 'false' }), ['v1']);
  assert.deepEqual(await versionFor(port, { 'x-user-email': 'ana@example.com' }), ['v2']);
  assert.deepEqual(await versionFor(port, { 'x-user-email': 'ana@example.com.evil.org' }), ['v1'], 'the regex matches the whole value');
  assert.deepEqual(await versionFor(port, { 'end-user': 'debug' }), ['v2']);

  let r = await sluice.cli(['promote', 'routes']);
  assert.equal(r.code, 0, r.stderr);
  await sluice.waitFor('routes', 'at 50 %', (v) => v.status.stepIndex === 5);
  assert.deepEqual(await versionFor(port, { 'X-Canary': 'true' }), ['v2'], 'routes stay until promotion');
  const mixed = await versionFor(port, {});
  assert.deepEqual(mixed.sort(), ['v1', 'v2']);

  r = await sluice.cli(['promote', 'routes', '--full']);
  assert.equal(r.code, 0, r.stderr);
  const done = await sluice.waitFor('routes', 'v2 healthy', healthyOn(2));
  assert.deepEqual(done.status.headerRoutes, []);
  assert.deepEqual(await versionFor(port, { 'X-Canary': 'true' }), ['v2']);
});

test('a header route is removed at abort', async () => {
  const port = await freePort();
  const strategy = `    canary:
      steps:
        - setHeaderRoute: {name: testers, match: [{headerName: X-Canary, headerValue: {exact: "true"}}]}
        - pause: {}
`;
  await sluice.apply('aborted.yaml', demoManifest({ name: 'aborted', version: 'v1', listen: port, strategy }));
  await sluice.waitFor('aborted', 'v1 healthy', healthyOn(1));
  await sluice.apply('aborted.yaml', demoManifest({ name: 'aborted', version: 'v2', listen: port, strategy }));
  await sluice.waitFor('aborted', 'paused', (v) => v.status.reason === 'CanaryPauseStep');
  assert.deepEqual(await versionFor(port, { 'X-Canary': 'true' }), ['v2']);
  const r = await sluice.cli(['abort', 'aborted']);
  assert.equal(r.code, 0, r.stderr);
  await sluice.waitFor('aborted', 'canary gone', (v) => v.status.phase === 'Degraded' && v.instances.every((i) => i.revision === 1));
  assert.deepEqual(await versionFor(port, { 'X-Canary': 'true' }), ['v1']);
});
