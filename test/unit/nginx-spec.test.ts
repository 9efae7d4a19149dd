import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRollouts } from '../../src/spec/load.js';
import { DEFAULT_NGINX_SETTINGS, type NginxSettings } from '../../src/dataplane/nginx/settings.js';
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
  assert.equal(r.spec.traffic.dataPlaneSettings, undefined);
});

test('traffic.router: nginx takes every nginx default; both spellings of the settings work', () => {
  const [a] = loadRollouts(doc('    router: nginx'), 'web.yaml');
  assert.equal(a.spec.traffic.router, 'nginx');
  assert.deepEqual(a.spec.traffic.dataPlaneSettings, DEFAULT_NGINX_SETTINGS);
  const [b] = loadRollouts(doc('    router: nginx\n    nginx: {manage: false, configFile: /etc/nginx/sluice.conf}'), 'web.yaml');
  assert.equal((b.spec.traffic.dataPlaneSettings as NginxSettings | undefined)?.manage, false);
  assert.equal((b.spec.traffic.dataPlaneSettings as NginxSettings | undefined)?.configFile, '/etc/nginx/sluice.conf');
  const [c] = loadRollouts(doc('    router: {nginx: {manage: true, binary: /usr/sbin/nginx}}'), 'web.yaml');
  assert.equal(c.spec.traffic.router, 'nginx');
  assert.equal((c.spec.traffic.dataPlaneSettings as NginxSettings | undefined)?.binary, '/usr/sbin/nginx');
});

test('mistakes get one positioned line', () => {
  assert.throws(() => loadRollouts(doc('    router: envoy'), 'web.yaml'), /web\.yaml:\d+:\d+: spec\.traffic\.router: must be one of builtin, nginx/);
  assert.throws(
    () => loadRollouts(doc('    nginx: {manage: true}'), 'web.yaml'),
    /spec\.traffic\.nginx: sets nginx settings but the router is builtin — add router: nginx/,
  );
  assert.throws(() => loadRollouts(doc('    router: nginx\n    nginx: {manag: true}'), 'web.yaml'), /unknown field "manag"/);
  assert.throws(() => loadRollouts(doc('    router: nginx\n    nginx: {configFile: sluice.conf}'), 'web.yaml'), /configFile: .*must be an absolute path/);
});

test("the engine marks an nginx rollout's listeners for the nginx data plane", () => {
  const [r] = loadRollouts(doc('    router: nginx'), 'web.yaml');
  const table = buildRouteTable(1, [{ spec: r.spec, routes: { main: [{ revision: 1, weight: 100 }] }, revisions: [] }], []);
  assert.equal(table.listeners[0].dataPlane, 'nginx');
  assert.equal((table.listeners[0].dataPlaneSettings as NginxSettings | undefined)?.manage, true);
});

test('issue 10 finding 5: accessLog and statusListen are strict (the reproduced injections are refused)', () => {
  const nginx = (settings: string) => doc(`    router: nginx\n    nginx: {manage: false, ${settings}}`);
  const injected = '/tmp/x.log sluice_json; server { listen 18590; location /pwn { return 200 PWNED; } } #';
  assert.throws(
    () => loadRollouts(nginx(`accessLog: "${injected}"`), 'web.yaml'),
    /spec\.traffic\.nginx\.accessLog: must be an absolute path nginx can take as is/,
  );
  for (const bad of ['/var/log/a b.log', '/var/log/$host.log', '/var/log/a;b', '/var/log/"a"', '/var/log/a#b', '/var/log/{a}']) {
    assert.throws(() => loadRollouts(nginx(`accessLog: ${JSON.stringify(bad)}`), 'web.yaml'), /accessLog: must be an absolute path/, bad);
  }
  assert.equal(
    (loadRollouts(nginx('accessLog: /var/log/nginx/sluice-access.log'), 'web.yaml')[0].spec.traffic.dataPlaneSettings as NginxSettings | undefined)?.accessLog,
    '/var/log/nginx/sluice-access.log',
  );
  for (const bad of ['18591;stub_status;#:9902', 'a b:9902', '127.0.0.1:99999', '127.0.0.1:0', '[::1;]:9902', 'host$x:9902']) {
    assert.throws(() => loadRollouts(nginx(`statusListen: ${JSON.stringify(bad)}`), 'web.yaml'), /statusListen: .* is not host:port/, bad);
  }
  for (const ok of ['127.0.0.1:9902', 'localhost:9902', '[::1]:9902']) {
    assert.equal((loadRollouts(nginx(`statusListen: "${ok}"`), 'web.yaml')[0].spec.traffic.dataPlaneSettings as NginxSettings | undefined)?.statusListen, ok);
  }
});

test('with router: nginx, header names are [A-Za-z0-9-] and cookie names [A-Za-z0-9_-] (routes and sticky)', () => {
  const route = (match: string) => `    router: nginx\n    routes: [{name: t, match: ${match}, to: canary}]`;
  assert.throws(
    () => loadRollouts(doc(route('{header: {name: x$host.y, exact: "1"}}')), 'web.yaml'),
    /routes\[0\]\.match\.header\.name "x\$host\.y" is not a header name nginx can route on — with router: nginx a header name is letters, digits and -/,
  );
  assert.throws(() => loadRollouts(doc(route('{header: {name: x_user, exact: "1"}}')), 'web.yaml'), /header name nginx can route on/);
  assert.throws(
    () => loadRollouts(doc(route('{cookie: {name: "a$b", exact: "1"}}')), 'web.yaml'),
    /routes\[0\]\.match\.cookie\.name "a\$b" is not a cookie name/,
  );
  assert.doesNotThrow(() => loadRollouts(doc(route('{cookie: {name: session_id, exact: "1"}}')), 'web.yaml'));
  assert.doesNotThrow(
    () => loadRollouts(doc('    routes: [{name: t, match: {header: {name: x_user, exact: "1"}}, to: canary}]'), 'web.yaml'),
    'the builtin router reads any RFC 9110 token',
  );
  assert.throws(
    () => loadRollouts(doc('    router: nginx\n    sticky: {cookie: {name: "x$request_id"}}'), 'web.yaml'),
    /sticky\.cookie\.name "x\$request_id" is not a cookie name nginx can use/,
  );
  assert.throws(
    () => loadRollouts(doc('    router: nginx\n    sticky: {header: "x.user"}'), 'web.yaml'),
    /sticky\.header "x\.user" is not a header name nginx can read/,
  );
  assert.throws(() => loadRollouts(doc('    router: nginx\n    sticky: {hashCookie: "s!d"}'), 'web.yaml'), /sticky\.hashCookie "s!d"/);
});
