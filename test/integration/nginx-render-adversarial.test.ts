/**
 * Issue 10 finding 5: no string sluice renders can add nginx directives. For every string
 * field of a listener and of the nginx settings, values with ; { } # quotes $ newlines and
 * backslashes are either refused with a one-line error naming the field, or rendered so
 * that the real `nginx -t` passes and the parsed config has exactly the statements (names,
 * nesting, argument counts) and variable references of a benign value's config. Rendering
 * is checked the way NginxDataPlane.apply does it: validateRouteTable, then renderRoutes.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ManagedNginx } from '../../src/dataplane/nginx/control.js';
import { renderRoutes, type RenderOptions } from '../../src/dataplane/nginx/render.js';
import type { ListenerRoutes } from '../../src/core/route-table.js';
import { validateRouteTable } from '../../src/router/validate.js';
import { nginxMissing } from '../helpers/nginx.js';

const skip = nginxMissing();
const dir = mkdtempSync(join(tmpdir(), 'sluice-nginx-adv-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PAYLOADS = [
  ';',
  '{',
  '}',
  '#',
  '"',
  "'",
  '$host',
  '${remote_addr}',
  '\n',
  '\\',
  '\\"',
  'x"; } server { listen 127.0.0.1:9; location /pwn { return 200 PWNED; } } #',
];

function base(): ListenerRoutes {
  return {
    listen: '127.0.0.1:18080',
    rollout: 'web',
    role: 'main',
    balancer: 'round-robin',
    rules: [
      { name: 'h', header: { name: 'x-h', exact: 'v' }, revision: 2 },
      { name: 'p', header: { name: 'x-p', prefix: 'v' }, revision: 2 },
      { name: 'r', header: { name: 'x-r', regex: 'v' }, revision: 2 },
      { name: 'c', cookie: { name: 'c', exact: 'v' }, revision: 2 },
      { name: 'q', query: { name: 'q', exact: 'v' }, pathPrefix: '/v', revision: 2 },
    ],
    split: [
      { revision: 1, weight: 50 },
      { revision: 2, weight: 50 },
    ],
    backends: [
      { revision: 1, version: 'v1', variant: 'a', endpoints: [{ id: 'web-1', host: '127.0.0.1', port: 18081 }] },
      { revision: 2, version: 'v2', variant: 'b', endpoints: [{ id: 'web-2', host: 'localhost', port: 18082 }] },
    ],
    maintenance: { status: 503, body: 'v', retryAfterSeconds: 5 },
    sticky: { cookie: { name: 'sk' } },
    variantHeader: 'x-variant',
    mirrors: [{ name: 'm', revision: 2, percent: 50, queueLimit: 10, maxBodyBytes: 0, match: { header: { name: 'x-m', exact: 'v' } } }],
    dataPlane: 'nginx',
  };
}

const options = (): RenderOptions => ({ generation: 1, statusListen: '127.0.0.1:18090', accessLog: join(dir, 'access.log'), keepaliveSeconds: 0 });

/** Each string field: how to set it to a value (in a fresh listener and render options). */
const FIELDS: Record<string, (l: ListenerRoutes, o: RenderOptions, v: string) => void> = {
  rollout: (l, _o, v) => (l.rollout = `web${v}`),
  listen: (l, _o, v) => (l.listen = `127.0.0.1${v}:18080`),
  'endpoint id': (l, _o, v) => (l.backends[0].endpoints[0].id = `web${v}`),
  'endpoint host': (l, _o, v) => (l.backends[0].endpoints[0].host = `h${v}`),
  version: (l, _o, v) => (l.backends[0].version = `v${v}`),
  variant: (l, _o, v) => (l.backends[0].variant = `a${v}`),
  variantHeader: (l, _o, v) => (l.variantHeader = `x${v}`),
  'rule name': (l, _o, v) => (l.rules[0].name = `h${v}`),
  'header name': (l, _o, v) => (l.rules[0].header!.name = `x${v}`),
  'header exact': (l, _o, v) => (l.rules[0].header!.exact = `v${v}`),
  'header prefix': (l, _o, v) => (l.rules[1].header!.prefix = `v${v}`),
  'header regex': (l, _o, v) => (l.rules[2].header!.regex = `v${v}`),
  'cookie name': (l, _o, v) => (l.rules[3].cookie!.name = `c${v}`),
  'cookie exact': (l, _o, v) => (l.rules[3].cookie!.exact = `v${v}`),
  'query name': (l, _o, v) => (l.rules[4].query!.name = `q${v}`),
  'query exact': (l, _o, v) => (l.rules[4].query!.exact = `v${v}`),
  pathPrefix: (l, _o, v) => (l.rules[4].pathPrefix = `/v${v}`),
  'maintenance body': (l, _o, v) => (l.maintenance!.body = `down${v}`),
  'mirror name': (l, _o, v) => (l.mirrors![0].name = `m${v}`),
  'mirror header name': (l, _o, v) => (l.mirrors![0].match!.header!.name = `x${v}`),
  'mirror header exact': (l, _o, v) => (l.mirrors![0].match!.header!.exact = `v${v}`),
  'sticky cookie name': (l, _o, v) => (l.sticky = { cookie: { name: `sk${v}` } }),
  'sticky header': (l, _o, v) => (l.sticky = { header: `x${v}` }),
  'sticky hashCookie': (l, _o, v) => (l.sticky = { hashCookie: `sk${v}` }),
  accessLog: (_l, o, v) => (o.accessLog = `${o.accessLog}${v}`),
  statusListen: (_l, o, v) => (o.statusListen = `127.0.0.1${v}:18090`),
};

/** Statements of an nginx config (nginx's tokenizer, enough for what sluice writes): depth, name, argument count; and the arguments. */
interface Statement {
  depth: number;
  name: string;
  args: string[];
  /** The enclosing block's directive (map, geo, server...). */
  parent: string;
}

function parse(text: string): Statement[] {
  const out: Statement[] = [];
  const stack: string[] = [];
  let words: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) i++;
    else if (c === '#') while (i < text.length && text[i] !== '\n') i++;
    else if (c === ';' || c === '{') {
      out.push({ depth: stack.length, name: words[0] ?? '', args: words.slice(1), parent: stack.at(-1) ?? '' });
      if (c === '{') stack.push(words[0] ?? '');
      words = [];
      i++;
    } else if (c === '}') {
      assert.equal(words.length, 0, `words before } at ${i}`);
      stack.pop();
      i++;
    } else if (c === '"' || c === "'") {
      let w = '';
      for (i++; text[i] !== c; i++) {
        assert.ok(i < text.length, 'unterminated string');
        if (text[i] === '\\' && (text[i + 1] === c || text[i + 1] === '\\')) i++;
        w += text[i];
      }
      i++;
      words.push(w);
    } else {
      let w = '';
      while (i < text.length && !/[\s;{}]/.test(text[i])) {
        if (text[i] === '$' && text[i + 1] === '{') {
          const end = text.indexOf('}', i);
          w += text.slice(i, end + 1);
          i = end + 1;
          continue;
        }
        if (text[i] === '\\') i++;
        w += text[i++];
      }
      words.push(w);
    }
  }
  assert.equal(stack.length, 0, 'blocks balanced');
  return out;
}

/** Entries of map, geo and split_clients blocks are keys, not directives: only their count and arity matter. */
const TABLES = new Set(['map', 'geo', 'split_clients']);
const shape = (s: Statement[]) => s.map((x) => `${'  '.repeat(x.depth)}${TABLES.has(x.parent) ? '<entry>' : x.name}/${x.args.length}`);

/** Variables nginx would expand: everything but map/geo keys and regex operands, which are not interpolated. */
function variables(s: Statement[]): Set<string> {
  const found = new Set<string>();
  for (const x of s) {
    // A map/geo entry's key is not expanded (its value is); an if's regex operand neither.
    const values = x.name === 'if' ? x.args.slice(0, 1) : x.args;
    for (const a of values) for (const m of a.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) found.add(m[1]);
  }
  return found;
}

function render(field: string, value: string | undefined): string {
  const l = base();
  const o = options();
  if (value !== undefined) FIELDS[field](l, o, value);
  validateRouteTable({ generation: 1, listeners: [l] });
  return renderRoutes([l], o);
}

test('every string field: an adversarial value is refused in one line naming the field, or changes no directive and passes nginx -t', { skip }, async () => {
  const nginx = new ManagedNginx(join(dir, 'nginx'), 'nginx');
  mkdirSync(dirname(nginx.routesFile), { recursive: true });
  const benign = parse(render('rollout', undefined));
  const benignVars = variables(benign);
  writeFileSync(nginx.routesFile, render('rollout', undefined));
  const check = await nginx.test();
  assert.equal(check.code, 0, `the benign config passes nginx -t: ${check.output}`);
  const outcome: Record<string, { refused: number; rendered: number }> = {};
  const wrong: string[] = [];
  for (const field of Object.keys(FIELDS)) {
    outcome[field] = { refused: 0, rendered: 0 };
    for (const payload of PAYLOADS) {
      const what = `${field} with ${JSON.stringify(payload)}`;
      let text: string;
      try {
        text = render(field, payload);
      } catch (e) {
        const message = (e as Error).message;
        outcome[field].refused++;
        if (message.includes('\n') || !/^(route table|nginx config)[: ]/.test(message)) wrong.push(`${what}: refusal is not one clear line: ${message}`);
        continue;
      }
      outcome[field].rendered++;
      const parsed = parse(text);
      assert.deepEqual(shape(parsed), shape(benign), `${what}: the statements differ from the benign config`);
      const extra = [...variables(parsed)].filter((v) => !benignVars.has(v));
      if (extra.length > 0) wrong.push(`${what}: nginx would expand ${extra.join(', ')}`);
      writeFileSync(nginx.routesFile, text);
      const r = await nginx.test();
      if (r.code !== 0) wrong.push(`${what}: nginx -t failed: ${r.output.split('\n').slice(-2).join(' | ')}`);
    }
  }
  console.log(
    `# refused/rendered per field: ${Object.entries(outcome)
      .map(([f, o]) => `${f} ${o.refused}/${o.rendered}`)
      .join(', ')}`,
  );
  assert.deepEqual(wrong, []);
  // The fields written bare are refused outright; the quoted ones render every payload.
  for (const f of ['listen', 'endpoint host', 'header name', 'variantHeader', 'sticky header', 'statusListen', 'accessLog'])
    assert.equal(outcome[f].rendered, 0, `${f} is never rendered with a payload`);
  for (const f of ['rollout', 'endpoint id', 'header exact', 'header prefix', 'cookie exact', 'query name', 'query exact', 'maintenance body', 'mirror name']) {
    assert.ok(outcome[f].rendered >= PAYLOADS.length - 2, `${f} renders (escaped): ${JSON.stringify(outcome[f])}`);
  }
});
