/** The pure parts of `sluice token|audit`: --expires, --role, finding a token to revoke, the tables. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditRecord } from '../../src/core/auth.js';
import type { PublicTokenRecord } from '../../src/api/tokens.js';
import { UsageError } from '../../src/cli/command.js';
import { auditOutcome, findToken, parseExpires, parseRoleFlags, renderAudit, renderTokenList } from '../../src/cli/tokens.js';
import { UserError } from '../../src/util/errors.js';

const NOW = Date.UTC(2026, 11, 3, 6, 0, 0);

test('--expires: whole numbers of minutes, hours, days or weeks, up to ten years', () => {
  assert.equal(parseExpires('90m'), 90 * 60);
  assert.equal(parseExpires('12h'), 12 * 3600);
  assert.equal(parseExpires('30d'), 30 * 86400);
  assert.equal(parseExpires('2w'), 14 * 86400);
  assert.equal(parseExpires('3650d'), 3650 * 86400);
  for (const bad of ['30', '30x', '1.5h', '-1d', 'd', '', '30 d', '1h30m', '30s']) {
    assert.throws(
      () => parseExpires(bad),
      (e: unknown) => e instanceof UsageError && /is not a duration — write a whole number and m, h, d or w, e\.g\. --expires 30d, 12h or 90m/.test(e.message),
      bad,
    );
  }
  assert.throws(() => parseExpires('0d'), /must live a while — .*e\.g\. --expires 30d/);
  assert.throws(() => parseExpires('3651d'), /at most ten years \(3650d\)/);
});

test('--role: the valid forms, repeats dropped; a bad one lists them', () => {
  assert.deepEqual(parseRoleFlags(['viewer', 'approver:qa', 'viewer']), ['viewer', 'approver:qa']);
  assert.throws(
    () => parseRoleFlags([]),
    (e: unknown) => e instanceof UsageError && /at least one --role: viewer, deployer, admin or approver:<role>/.test(e.message),
  );
  assert.throws(
    () => parseRoleFlags(['root']),
    (e: unknown) => e instanceof UsageError && /--role: role "root" is not a role — use viewer, deployer, admin or approver:<role>/.test(e.message),
  );
  assert.throws(() => parseRoleFlags(['approver:']), /write approver:<role>, e\.g\. approver:qa/);
});

const tok = (id: string, name: string, extra: Partial<PublicTokenRecord> = {}): PublicTokenRecord => ({
  id,
  name,
  roles: ['viewer'],
  createdAt: NOW - 3_600_000,
  createdBy: 'admin',
  ...extra,
});

test('revoke finds a token by id, else by the one live token of that name', () => {
  const tokens = [
    tok('a1', 'alice', { revokedAt: NOW, revokedBy: 'admin' }),
    tok('a2', 'alice'),
    tok('b1', 'bob'),
    tok('b2', 'bob'),
    tok('c1', 'carol', { revokedAt: NOW }),
  ];
  assert.equal(findToken(tokens, 'a1').id, 'a1', 'an id wins, even revoked (the API says so)');
  assert.equal(findToken(tokens, 'alice').id, 'a2');
  assert.throws(
    () => findToken(tokens, 'bob'),
    (e: unknown) => e instanceof UserError && /2 live tokens are named "bob" \(ids b1, b2\) — revoke one by its id/.test(e.message),
  );
  assert.throws(() => findToken(tokens, 'carol'), /token "carol" is already revoked \(id c1\)/);
  assert.throws(
    () => findToken(tokens, 'dave'),
    (e: unknown) => e instanceof UserError && e.status === 404 && /`sluice token list` shows them/.test(e.message),
  );
});

test('token list: id, name, roles, created, expires, revoked — and nothing else', () => {
  const out = renderTokenList(
    [
      tok('0a1b2c3d4e5f', 'alice', { roles: ['deployer', 'approver:qa'], expiresAt: NOW + 86_400_000 }),
      tok('ffeeddccbbaa', 'ci', { expiresAt: NOW - 1000, revokedAt: NOW - 500, revokedBy: 'root-admin' }),
      { ...tok('123456789abc', 'sneaky'), hash: 'f'.repeat(64) } as PublicTokenRecord,
    ],
    NOW,
  );
  const lines = out.split('\n');
  assert.match(lines[0]!, /^ID +NAME +ROLES +CREATED +EXPIRES +REVOKED$/);
  assert.match(lines[1]!, /^0a1b2c3d4e5f +alice +deployer,approver:qa +2026-12-03T05:00:00Z by admin +2026-12-04T06:00:00Z +-$/);
  assert.match(lines[2]!, /^ffeeddccbbaa +ci +viewer +\S+ by admin +2026-12-03T05:59:59Z \(expired\) +2026-12-03T05:59:59Z by root-admin$/);
  assert.match(lines[3]!, /^123456789abc +sneaky +viewer +\S+ by admin +never +-$/);
  assert.ok(!out.includes('ffff'), 'a hash, were one sent, is not a column');
  assert.match(renderTokenList([], NOW), /no named tokens .* `sluice token create NAME --role ROLE`/);
});

const rec = (extra: Partial<AuditRecord>): AuditRecord => ({
  id: 1,
  at: NOW,
  user: 'dan',
  roles: ['deployer'],
  method: 'POST',
  path: '/v1/apply',
  status: 200,
  remote: '127.0.0.1:5000',
  ...extra,
});

test('audit: time, user, call, status, from, outcome', () => {
  assert.equal(auditOutcome(rec({})), 'ok');
  assert.equal(auditOutcome(rec({ detail: 'rollout/web' })), 'ok: rollout/web');
  assert.equal(auditOutcome(rec({ status: 403, detail: 'this needs role deployer' })), 'refused: this needs role deployer');
  assert.equal(auditOutcome(rec({ status: 401 })), 'refused');
  assert.equal(auditOutcome(rec({ status: 409, detail: 'nothing waits' })), 'failed: nothing waits');
  assert.equal(auditOutcome(rec({ status: 500, detail: 'x'.repeat(300) })).length, 'failed: '.length + 100);
  const lines = renderAudit([
    rec({}),
    rec({ id: 2, user: 'vera', roles: ['viewer'], status: 403, path: '/v1/rollouts/web/pause', detail: 'this needs role deployer (or admin)' }),
  ]).split('\n');
  assert.match(lines[0]!, /^TIME +USER +CALL +STATUS +FROM +OUTCOME$/);
  assert.match(lines[1]!, /^2026-12-03T06:00:00Z +dan +POST \/v1\/apply +200 +127\.0\.0\.1:5000 +ok$/);
  assert.match(
    lines[2]!,
    /^2026-12-03T06:00:00Z +vera +POST \/v1\/rollouts\/web\/pause +403 +127\.0\.0\.1:5000 +refused: this needs role deployer \(or admin\)$/,
  );
  assert.equal(renderAudit([]), 'no audit records');
});
