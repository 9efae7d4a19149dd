/**
 * Issue 10 finding 4: a user regex cannot stall the builtin router. With JS RegExp,
 * `(a+)+$` against a 28-character header took 2.6 s and every other request waited; with
 * RE2 (src/router/regex.ts) it is linear, and values over MAX_REGEX_VALUE never match.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_REGEX_VALUE } from '../../src/util/regex.js';
import { listenAddr, listener, request, startBackend, startRouter, table, type Backend, type RouterHarness } from '../helpers/router-fixtures.js';

let h: RouterHarness;
let stable: Backend;
let canary: Backend;
let port = 0;

before(async () => {
  h = await startRouter();
  stable = await startBackend('stable');
  canary = await startBackend('canary');
  const addr = await listenAddr();
  port = addr.port;
  await h.client.apply(
    table(
      1,
      listener(
        addr.listen,
        { 1: ['v1', [stable.endpoint()]], 2: ['v2', [canary.endpoint()]] },
        { 1: 100 },
        {
          rules: [{ name: 'evil', header: { name: 'x-evil', regex: '(a+)+$' }, revision: 2 }],
        },
      ),
    ),
  );
});

after(async () => {
  await h?.close();
  await stable?.close();
  await canary?.close();
});

/** The pathological request and a plain one sent at the same moment; both timed. */
async function alongside(value: string): Promise<{ evil: { ms: number; body: string }; plain: { ms: number; body: string } }> {
  const timed = async (headers: Record<string, string>) => {
    const started = performance.now();
    const a = await request(port, { headers });
    return { ms: performance.now() - started, body: a.body };
  };
  const [evil, plain] = await Promise.all([timed({ 'x-evil': value }), timed({})]);
  return { evil, plain };
}

test('(a+)+$ against 28, 4,000 and 10,000 characters: answered at once, other requests unaffected', async () => {
  await request(port); // warm the connection path so the first timing is the regex's
  for (const value of ['a'.repeat(28) + '!', 'a'.repeat(MAX_REGEX_VALUE - 1) + '!', 'a'.repeat(10_000)]) {
    const { evil, plain } = await alongside(value);
    console.log(`# (a+)+$ vs ${value.length} chars: ${evil.ms.toFixed(1)} ms (plain request alongside: ${plain.ms.toFixed(1)} ms)`);
    assert.equal(evil.body, 'stable', `${value.length} chars do not match (no match, or over the ${MAX_REGEX_VALUE}-char cap)`);
    assert.equal(plain.body, 'stable');
    // The acceptance bound is 10 ms; 200 ms is generous for a shared 2-core machine, and
    // far below the seconds JS RegExp took (2.6 s at 28 characters, doubling with each).
    assert.ok(evil.ms < 200, `pathological request took ${evil.ms.toFixed(1)} ms`);
    assert.ok(plain.ms < 200, `the request alongside took ${plain.ms.toFixed(1)} ms`);
  }
});

test('the same rule still matches what it should, up to the cap', async () => {
  assert.equal((await request(port, { headers: { 'x-evil': 'aaaa' } })).body, 'canary');
  assert.equal((await request(port, { headers: { 'x-evil': 'a'.repeat(MAX_REGEX_VALUE) } })).body, 'canary');
  assert.equal((await request(port, { headers: { 'x-evil': 'a'.repeat(MAX_REGEX_VALUE + 1) } })).body, 'stable', 'over the cap never matches');
});
