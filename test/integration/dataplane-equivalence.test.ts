/**
 * The builtin router and nginx give the same answer for the same request (issue 10): one
 * table of requests × match rules run against a real in-process Router and a real managed
 * nginx, both rendering the same ListenerRoutes. Each rule sends to its own revision, so
 * the answer says which rule (if any) matched; every row states the expected revision and
 * both data planes must give it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NginxDataPlane } from '../../src/dataplane/nginx/data-plane.js';
import { MAX_REGEX_VALUE } from '../../src/util/regex.js';
import type { ListenerRoutes, MatchRule } from '../../src/core/route-table.js';
import { nginxMissing } from '../helpers/nginx.js';
import { listenAddr, startBackend, startRouter, type Backend, type RouterHarness } from '../helpers/router-fixtures.js';

const skip = nginxMissing();

/** Rule k (from 0) sends to revision k + 2; revision 1 is the default split. */
const RULES: Omit<MatchRule, 'revision'>[] = [
  { name: 'exact', header: { name: 'X-Exact', exact: 'yes' } },
  { name: 'prefix', header: { name: 'x-prefix', prefix: 'beta-' } },
  { name: 'regex', header: { name: 'x-version', regex: 'v[0-9]+(\\.[0-9]+)?' } },
  { name: 'pathological', header: { name: 'x-evil', regex: '(a+)+$' } },
  { name: 'icase', header: { name: 'x-flavor', regex: '(?i)choc.*' } },
  { name: 'cookie', cookie: { name: 'beta-user', exact: 'abc' } },
  { name: 'cookie-re', cookie: { name: 'group', regex: 'g[0-9]' } },
  { name: 'query', query: { name: 'canary', exact: 'yes' } },
  { name: 'query-re', query: { name: 'cohort', regex: '[a-c]+' } },
  { name: 'path', pathPrefix: '/api' },
  { name: 'path-slash', pathPrefix: '/shop/' },
  { name: 'post', methods: ['POST'], header: { name: 'x-write', exact: '1' } },
];
const rev = (name: string): number => RULES.findIndex((r) => r.name === name) + 2;

interface Row {
  what: string;
  path?: string;
  method?: string;
  /** Raw header lines (a name may repeat). */
  headers?: [string, string][];
  /** Expected revision: the rule's, or 1 (no rule matched). */
  expect: number;
}

const long = (n: number) => 'a'.repeat(n);
const ROWS: Row[] = [
  { what: 'no condition holds', expect: 1 },
  { what: 'exact header', headers: [['x-exact', 'yes']], expect: rev('exact') },
  { what: 'header names are case-insensitive', headers: [['X-EXACT', 'yes']], expect: rev('exact') },
  { what: 'header values are case-sensitive', headers: [['x-exact', 'Yes']], expect: 1 },
  { what: 'exact is the whole value', headers: [['x-exact', 'yes!']], expect: 1 },
  { what: 'spaces around a header value are not part of it (HTTP)', headers: [['x-exact', '  yes ']], expect: rev('exact') },
  { what: 'empty value', headers: [['x-exact', '']], expect: 1 },
  { what: 'prefix', headers: [['x-prefix', 'beta-42']], expect: rev('prefix') },
  { what: 'prefix is at the start', headers: [['x-prefix', 'xbeta-42']], expect: 1 },
  { what: 'prefix with regex characters in the value', headers: [['x-prefix', 'beta-.*']], expect: rev('prefix') },
  { what: 'regex, whole value', headers: [['x-version', 'v12.3']], expect: rev('regex') },
  { what: 'regex is anchored at the end', headers: [['x-version', 'v12.3x']], expect: 1 },
  { what: 'regex is anchored at the start', headers: [['x-version', 'xv1']], expect: 1 },
  { what: 'pathological regex, matching', headers: [['x-evil', long(30)]], expect: rev('pathological') },
  { what: 'pathological regex, 28 a + !', headers: [['x-evil', `${long(28)}!`]], expect: 1 },
  { what: 'pathological regex, under the cap, no match', headers: [['x-evil', `${long(MAX_REGEX_VALUE - 1)}!`]], expect: 1 },
  { what: 'pathological regex, exactly the cap', headers: [['x-evil', long(MAX_REGEX_VALUE)]], expect: rev('pathological') },
  { what: 'pathological regex, over the cap never matches', headers: [['x-evil', long(MAX_REGEX_VALUE + 1)]], expect: 1 },
  { what: 'pathological regex, 10,000 characters', headers: [['x-evil', long(10_000)]], expect: 1 },
  { what: 'inline case-insensitive flag', headers: [['x-flavor', 'CHOColate']], expect: rev('icase') },
  {
    what: 'repeated header lines: exact',
    headers: [
      ['x-exact', 'yes'],
      ['x-exact', 'no'],
    ],
    expect: -1 /* see repeatedHeaders */,
  },
  { what: 'cookie exact', headers: [['cookie', 'a=1; beta-user=abc; z=2']], expect: rev('cookie') },
  { what: 'cookie first in the header', headers: [['cookie', 'beta-user=abc']], expect: rev('cookie') },
  { what: 'cookie name is a whole name', headers: [['cookie', 'xbeta-user=abc']], expect: 1 },
  { what: 'cookie value is the whole value', headers: [['cookie', 'beta-user=abcd']], expect: 1 },
  {
    what: 'cookie in a second Cookie line',
    headers: [
      ['cookie', 'a=1'],
      ['cookie', 'beta-user=abc'],
    ],
    expect: rev('cookie'),
  },
  { what: 'cookie regex', headers: [['cookie', 'group=g7']], expect: rev('cookie-re') },
  { what: 'cookie regex whole value', headers: [['cookie', 'group=g77']], expect: 1 },
  { what: 'query exact', path: '/?a=1&canary=yes', expect: rev('query') },
  { what: 'query first parameter', path: '/?canary=yes&a=1', expect: rev('query') },
  { what: 'query whole name', path: '/?xcanary=yes', expect: 1 },
  { what: 'query whole value', path: '/?canary=yess', expect: 1 },
  { what: 'query regex', path: '/?cohort=abca', expect: rev('query-re') },
  { what: 'query regex whole value', path: '/?cohort=abcd', expect: 1 },
  { what: 'path prefix itself', path: '/api', expect: rev('path') },
  { what: 'path prefix by segment', path: '/api/v1/x', expect: rev('path') },
  { what: 'path prefix is not a string prefix', path: '/apix', expect: 1 },
  { what: 'path prefix is case-sensitive', path: '/API', expect: 1 },
  { what: 'path prefix with the query', path: '/api?x=1', expect: rev('path') },
  { what: 'path prefix written with a trailing slash', path: '/shop', expect: rev('path-slash') },
  { what: 'trailing-slash prefix by segment', path: '/shop/cart', expect: rev('path-slash') },
  { what: 'trailing-slash prefix not a string prefix', path: '/shopping', expect: 1 },
  { what: 'method and header both hold', method: 'POST', headers: [['x-write', '1']], expect: rev('post') },
  { what: 'method holds, header not', method: 'POST', expect: 1 },
  { what: 'header holds, method not', headers: [['x-write', '1']], expect: 1 },
  { what: 'first matching rule wins', path: '/api?canary=yes', headers: [['x-exact', 'yes']], expect: rev('exact') },
];

/**
 * Repeated header lines: the builtin router (like Envoy and nginx ≥ 1.23) matches the
 * lines joined with ", "; nginx before 1.23 sees only the first line. The row's answer is
 * the one each documents, so a change on either side is caught.
 */
function nginxJoinsRepeatedHeaders(): boolean {
  const v = /nginx\/(\d+)\.(\d+)/.exec(spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr ?? '');
  return v !== null && (Number(v[1]) > 1 || Number(v[2]) >= 23);
}

const dir = mkdtempSync(join(tmpdir(), 'sluice-equiv-'));
let router: RouterHarness;
let nginx: NginxDataPlane;
const apps: Backend[] = [];
let builtinPort = 0;
let nginxPort = 0;

function routes(listen: string, dataPlane: 'nginx' | undefined): ListenerRoutes {
  return {
    listen,
    rollout: 'web',
    role: 'main',
    balancer: 'round-robin',
    rules: RULES.map((r, k) => ({ ...r, revision: k + 2 })),
    split: [{ revision: 1, weight: 100 }],
    backends: apps.map((a, i) => ({ revision: i + 1, version: `v${i + 1}`, endpoints: [a.endpoint()] })),
    ...(dataPlane ? { dataPlane } : {}),
  };
}

before(async () => {
  if (skip) return;
  for (let r = 1; r <= RULES.length + 1; r++) apps.push(await startBackend(`r${r}`));
  router = await startRouter();
  const b = await listenAddr();
  builtinPort = b.port;
  await router.client.apply({ generation: 1, listeners: [routes(b.listen, undefined)] });
  const n = await listenAddr();
  nginxPort = n.port;
  nginx = new NginxDataPlane(dir);
  await nginx.apply(1, [routes(n.listen, 'nginx')]);
});

after(async () => {
  await nginx?.shutdown();
  await router?.close();
  await Promise.all(apps.map((a) => a.close()));
  rmSync(dir, { recursive: true, force: true });
});

/** The revision that answered (backends answer "r<revision>"). */
function ask(port: number, row: Row): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: row.method ?? 'GET',
        path: row.path ?? '/',
        agent: false,
        headers: [['host', `127.0.0.1:${port}`], ...(row.headers ?? [])].flat(),
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => (/^r\d+$/.test(body) ? resolve(Number(body.slice(1))) : reject(new Error(`status ${res.statusCode}: ${body.slice(0, 80)}`))));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('builtin and nginx choose the same revision for every request of the table', { skip }, async () => {
  const joins = nginxJoinsRepeatedHeaders();
  const wrong: string[] = [];
  for (const row of ROWS) {
    const builtin = await ask(builtinPort, row);
    const viaNginx = await ask(nginxPort, row);
    if (row.expect === -1) {
      // Joined "yes, no" is not exactly "yes"; the first line alone is.
      if (builtin !== 1) wrong.push(`${row.what}: builtin chose ${builtin}, expected 1 (lines joined)`);
      const n = joins ? 1 : rev('exact');
      if (viaNginx !== n) wrong.push(`${row.what}: nginx chose ${viaNginx}, expected ${n} (${joins ? 'joined' : 'first line only, nginx < 1.23'})`);
      continue;
    }
    if (builtin !== row.expect || viaNginx !== row.expect) wrong.push(`${row.what}: builtin ${builtin}, nginx ${viaNginx}, expected ${row.expect}`);
  }
  assert.deepEqual(wrong, [], `${wrong.length} of ${ROWS.length} rows differ:\n${wrong.join('\n')}`);
});
