import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRollouts } from '../../src/spec/load.js';
import { DEFAULT_NGINX_SETTINGS } from '../../src/dataplane/nginx/settings.js';
import { buildRouteTable } from '../../src/engine/routes.js';

const doc = (traffic: string) => `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  template: {version: v1, command: node}
  traffic:
    listen: 127.0.0.1:8080
${traffic}
  strategy: {rolling: {}}
`;

test('traffic.router: absent means builtin and is left out of the spec', () => {
  const [r] = loadRollouts(doc(''), 'web.yaml');
  assert.equal(r.spec.traffic.router, undefined);
  assert.equal(r.spec.traffic.nginx, undefined);
});

test('traffic.router: nginx takes every nginx default; both spellings of the settings work', () => {
  const [a] = loadRollouts(doc('    router: nginx'), 'web.yaml');
  assert.equal(a.spec.traffic.router, 'nginx');
  assert.deepEqual(a.spec.traffic.nginx, DEFAULT_NGINX_SETTINGS);
  const [b] = loadRollouts(doc('    router: nginx\n    nginx: {manage: false, configFile: /etc/nginx/sluice.conf}'), 'web.yaml');
  assert.equal(b.spec.traffic.nginx?.manage, false);
  assert.equal(b.spec.traffic.nginx?.configFile, '/etc/nginx/sluice.conf');
  const [c] = loadRollouts(doc('    router: {nginx: {manage: true, binary: /usr/sbin/nginx}}'), 'web.yaml');
  assert.equal(c.spec.traffic.router, 'nginx');
  assert.equal(c.spec.traffic.nginx?.binary, '/usr/sbin/nginx');
});

test('mistakes get one positioned line', () => {
  assert.throws(() => loadRollouts(doc('    router: envoy'), 'web.yaml'), /web\.yaml:\d+:\d+: spec\.traffic\.router: must be one of builtin, nginx/);
  assert.throws(() => loadRollouts(doc('    nginx: {manage: true}'), 'web.yaml'), /spec\.traffic\.nginx: sets nginx settings but the router is builtin — add router: nginx/);
  assert.throws(() => loadRollouts(doc('    router: nginx\n    nginx: {manag: true}'), 'web.yaml'), /unknown field "manag"/);
  assert.throws(() => loadRollouts(doc('    router: nginx\n    nginx: {configFile: sluice.conf}'), 'web.yaml'), /configFile: .*must be an absolute path/);
});

test('the engine marks an nginx rollout\'s listeners for the nginx data plane', () => {
  const [r] = loadRollouts(doc('    router: nginx'), 'web.yaml');
  const table = buildRouteTable(1, [{ spec: r.spec, routes: { main: [{ revision: 1, weight: 100 }] }, revisions: [] }], []);
  assert.equal(table.listeners[0].dataPlane, 'nginx');
  assert.equal(table.listeners[0].nginx?.manage, true);
});
