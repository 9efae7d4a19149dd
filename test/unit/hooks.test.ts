import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { RolloutEvent } from '../../src/core/rollout.js';
import { isGateKind, WEBHOOK_KINDS } from '../../src/core/hooks.js';
import { backoffDelay, signBody, verifySignature, webhookProblem } from '../../src/hooks/webhook.js';
import { resolvePath, subsetMatches } from '../../src/hooks/smoke.js';
import { slackMessage } from '../../src/hooks/notify.js';
import { hookPayload } from '../../src/core/hook-payload.js';

const ctx = { rollout: 'web', phase: 'Progressing' as const, revision: 3, stableRevision: 2, version: 'v2' };

test('the signature is HMAC-SHA256 over "<timestamp>.<body>", hex, prefixed sha256=', () => {
  const body = '{"name":"web"}';
  const expected = createHmac('sha256', 'key').update(`1767225600.${body}`).digest('hex');
  assert.equal(signBody('key', 1767225600, body), `sha256=${expected}`);
  assert.equal(signBody('key', '1767225600', Buffer.from(body)), `sha256=${expected}`);
});

test('verifySignature checks key, body, timestamp and the replay window', () => {
  const now = 1767225600_000;
  const ts = now / 1000;
  const body = '{"kind":"rollout"}';
  const sig = signBody('key', ts, body);
  assert.equal(verifySignature('key', ts, body, sig, { nowMs: now }), true);
  assert.equal(verifySignature('key', String(ts), body, ` ${sig} `, { nowMs: now + 299_000 }), true);
  assert.equal(verifySignature('other', ts, body, sig, { nowMs: now }), false, 'wrong key');
  assert.equal(verifySignature('key', ts, body + ' ', sig, { nowMs: now }), false, 'body changed');
  assert.equal(verifySignature('key', ts + 1, body, sig, { nowMs: now }), false, 'timestamp changed');
  assert.equal(verifySignature('key', ts, body, sig, { nowMs: now + 301_000 }), false, 'too old');
  assert.equal(verifySignature('key', ts, body, sig, { nowMs: now + 10 * 86400_000, toleranceSeconds: Infinity }), true);
  assert.equal(verifySignature('key', ts, body, sig.replace('sha256=', 'sha1='), { nowMs: now }), false);
  assert.equal(verifySignature('key', ts, body, 'sha256=abc', { nowMs: now }), false);
  assert.equal(verifySignature('key', '12ab', body, sig, { nowMs: now }), false);
  assert.equal(verifySignature('key', undefined, body, sig), false);
  assert.equal(verifySignature('key', ts, body, undefined), false);
});

test('backoff doubles from the first delay up to the cap', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, 500, 8000)),
    [500, 1000, 2000, 4000, 8000, 8000],
  );
});

test('webhookProblem names what makes a hook unusable', () => {
  assert.equal(webhookProblem({ url: 'https://hooks.example.com/x' }), undefined);
  assert.equal(webhookProblem({ url: 'hooks.example.com' }), 'url is not a valid URL; write it as http(s)://host[:port]/path');
  assert.equal(webhookProblem({ url: 'file:///etc/passwd' }), 'url must be http:// or https://, not file://');
  assert.equal(webhookProblem({ url: 'http://h', secretEnv: 'K' }, {}), "secretEnv K is not set in sluice's environment; set it or remove secretEnv");
  assert.equal(webhookProblem({ url: 'http://h', secretEnv: 'K' }, { K: 'v' }), undefined);
});

test('kinds: the confirm-* ones are gates', () => {
  assert.deepEqual(WEBHOOK_KINDS.filter(isGateKind), ['confirm-rollout', 'confirm-traffic-increase', 'confirm-promotion']);
});

test('hookPayload fills the documented fields', () => {
  assert.deepEqual(hookPayload('rollout', ctx, Date.parse('2026-01-01T00:00:00Z')), {
    name: 'web',
    kind: 'rollout',
    phase: 'Progressing',
    revision: 3,
    stableRevision: 2,
    version: 'v2',
    metadata: {},
    timestamp: '2026-01-01T00:00:00.000Z',
  });
});

test('resolvePath: JSONPath steps and plain top-level keys', () => {
  const doc = { a: { b: [10, { c: 'x' }] }, 'a.b': 'literal', 'odd key': 1, n: null };
  assert.deepEqual(resolvePath(doc, '$.a.b[0]'), { found: true, value: 10 });
  assert.deepEqual(resolvePath(doc, '$.a.b[-1].c'), { found: true, value: 'x' });
  assert.deepEqual(resolvePath(doc, "$['odd key']"), { found: true, value: 1 });
  assert.deepEqual(resolvePath(doc, '$["a"]["b"][1]'), { found: true, value: { c: 'x' } });
  assert.deepEqual(resolvePath(doc, 'a.b'), { found: true, value: 'literal' });
  assert.deepEqual(resolvePath(doc, '$.n'), { found: true, value: null });
  assert.deepEqual(resolvePath(doc, '$'), { found: true, value: doc });
  assert.deepEqual(resolvePath(doc, '$.a.b[5]'), { found: false });
  assert.deepEqual(resolvePath(doc, '$.missing.deeper'), { found: false });
  assert.deepEqual(resolvePath(doc, '$.a.toString'), { found: false }, 'only own keys');
  assert.equal(resolvePath(doc, '$..b'), 'unsupported');
  assert.equal(resolvePath(doc, '$.a[?(@.b)]'), 'unsupported');
});

test('subsetMatches: objects by subset, arrays element by element, scalars strictly', () => {
  assert.equal(subsetMatches({ a: 1 }, { a: 1, b: 2 }), true);
  assert.equal(subsetMatches({ a: { b: 1 } }, { a: { b: 1, c: 2 } }), true);
  assert.equal(subsetMatches({ a: 1, z: 1 }, { a: 1 }), false);
  assert.equal(subsetMatches([{ id: 1 }, { id: 2 }], [{ id: 1, x: 0 }, { id: 2 }]), true);
  assert.equal(subsetMatches([{ id: 1 }], [{ id: 1 }, { id: 2 }]), false);
  assert.equal(subsetMatches(2, '2'), false);
  assert.equal(subsetMatches(null, null), true);
  assert.equal(subsetMatches({}, []), false);
});

test('slackMessage: an unknown reason falls back to its name; warnings are red', () => {
  const e: RolloutEvent = {
    id: 1,
    rollout: 'web',
    at: 1767225600_000,
    actor: 'alice',
    type: 'Warning',
    reason: 'InstanceCrashed',
    message: 'exit 1',
    revision: 4,
  };
  const m = slackMessage(e, { ...ctx, stableRevision: null, version: '<v3>' }) as {
    text: string;
    attachments: { color: string; footer: string; ts: number }[];
  };
  assert.equal(m.text, ':warning: web: revision 4 (&lt;v3&gt;) InstanceCrashed');
  assert.equal(m.attachments[0].color, 'danger');
  assert.equal(m.attachments[0].footer, 'sluice · stable revision none · by alice');
  assert.equal(m.attachments[0].ts, 1767225600);
});
