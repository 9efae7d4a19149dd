/** src/util/redact.ts: what counts as a secret, and that it is hidden wherever it is quoted. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactDeep, redactText, REDACTED, secretValues } from '../../src/util/redact.js';

test('secret-looking env names hide their values; other values stay', () => {
  const env = {
    DB_PASSWORD: 'pw-1111',
    API_TOKEN: 'tok-2222',
    AWS_SECRET_ACCESS_KEY: 'aws-3333',
    GH_CREDENTIALS: 'cred-4444',
    SENTRY_DSN: 'dsn-5555',
    PORT: '8080',
    GREETING: 'hello',
  };
  const out = redactDeep({ spec: { template: { env } } }).spec.template.env;
  for (const k of ['DB_PASSWORD', 'API_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'GH_CREDENTIALS', 'SENTRY_DSN'] as const) assert.equal(out[k], REDACTED, k);
  assert.equal(out.PORT, '8080');
  assert.equal(out.GREETING, 'hello');
});

test('a URL password is hidden in any field, the rest of the URL is kept', () => {
  const out = redactDeep({ env: { DATABASE_URL: 'postgres://app:pa55word@db:5432/app', PLAIN_URL: 'http://example.com/a' } });
  assert.equal(out.env.DATABASE_URL, `postgres://app:${REDACTED}@db:5432/app`);
  assert.equal(out.env.PLAIN_URL, 'http://example.com/a');
});

test('everything under secretEnv, a `secret` field and secret-named headers are secrets; secretEnv naming a variable is not', () => {
  const view = {
    spec: {
      template: { secretEnv: { DB: { file: '/run/secrets/db' }, OTHER: { env: 'HOST_VAR' } } },
      notifications: [{ name: 'ops', secret: 'hmac-key-1', secretEnv: 'HOOK_SECRET', headers: { Authorization: 'Bearer abcd', 'X-Team': 'red' } }],
    },
  };
  const found = secretValues(view);
  for (const s of ['/run/secrets/db', 'HOST_VAR', 'hmac-key-1', 'Bearer abcd']) assert.ok(found.has(s), s);
  assert.ok(!found.has('HOOK_SECRET') && !found.has('red'));
  const out = redactDeep(view);
  assert.equal(out.spec.notifications[0]!.headers['X-Team'], 'red');
  assert.equal(out.spec.notifications[0]!.secretEnv, 'HOOK_SECRET');
  assert.equal(out.spec.template.secretEnv.DB.file, REDACTED);
});

test('a secret found in the spec is hidden wherever it is quoted: YAML source, old event messages', () => {
  const view = {
    spec: { template: { env: { DB_PASSWORD: 'hunter22' } } },
    source: 'env:\n  DB_PASSWORD: "hunter22"\n  X: y\n',
    events: [{ message: 'set DB_PASSWORD=hunter22' }, { message: 'the value hunter22 leaked in prose' }],
  };
  const text = JSON.stringify(redactDeep(view));
  assert.ok(!text.includes('hunter22'), text);
  assert.match(text, /X: y/);
});

test('redactText hides secret-named NAME=value pairs and URL passwords in free text, not YAML structure', () => {
  assert.equal(redactText('set DB_PASSWORD=abc GREETING=hi'), `set DB_PASSWORD=${REDACTED} GREETING=hi`);
  assert.equal(redactText('"API_KEY": "k-1"'), `"API_KEY": ${REDACTED}`);
  assert.equal(redactText('connect redis://:pw@cache:6379 failed'), `connect redis://:${REDACTED}@cache:6379 failed`);
  assert.equal(redactText('sticky:\n  cookie: canary\n  key: user'), 'sticky:\n  cookie: canary\n  key: user');
  // Prose after a key name is not its value (the set event reads "set +DB_PASSWORD: revision 2 …").
  assert.equal(redactText('set +DB_PASSWORD: revision 2 (v1) created'), 'set +DB_PASSWORD: revision 2 (v1) created');
});

test('values shorter than 4 characters are not replaced inside other text', () => {
  const out = redactDeep({ env: { PIN_SECRET: 'ab' }, message: 'tab about' });
  assert.equal(out.env.PIN_SECRET, REDACTED);
  assert.equal(out.message, 'tab about');
});
