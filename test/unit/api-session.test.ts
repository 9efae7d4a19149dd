/**
 * Dashboard sessions (src/api/session.ts): a cookie names who signed in until it expires,
 * cannot be forged or stretched, stays signed out across a restart, ends with its named
 * token, and its CSRF token is its own. Property-based: any change to a cookie is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { cookieValue, Sessions } from '../../src/api/session.js';
import type { Principal } from '../../src/core/auth.js';

const ADMIN = 'a'.repeat(64);

function sessions(o: { now: () => number; stateDir?: string; token?: string; named?: Map<string, Principal> }) {
  return new Sessions({
    adminToken: o.token ?? ADMIN,
    now: o.now,
    ttlMs: 3600_000,
    ...(o.stateDir !== undefined ? { stateDir: o.stateDir } : {}),
    tokenPrincipal: (id) => o.named?.get(id),
  });
}

test('a session holds until its expiry, then is refused; another admin token (another key) never accepts it', () => {
  let now = 1_000_000;
  const s = sessions({ now: () => now });
  const { cookie, session } = s.create({ user: 'admin', roles: ['admin'] });
  assert.equal(session.expiresAt, now + 3600_000);
  const ok = s.verify(cookie);
  assert.ok(!('refused' in ok));
  assert.equal(ok.user, 'admin');
  assert.equal(ok.csrf, session.csrf);
  now += 3600_000 - 1;
  assert.ok(!('refused' in s.verify(cookie)));
  now += 1;
  assert.ok('refused' in s.verify(cookie), 'expired at expiresAt');
  const other = sessions({ now: () => 0, token: 'b'.repeat(64) });
  assert.ok('refused' in other.verify(cookie));
});

test('any change to a cookie is refused (property)', () => {
  const s = sessions({ now: () => 0 });
  const { cookie } = s.create({ user: 'vera', roles: ['viewer'], tokenId: 't1' });
  fc.assert(
    fc.property(fc.nat({ max: cookie.length - 1 }), fc.integer({ min: 33, max: 126 }), (i, code) => {
      const ch = String.fromCharCode(code);
      fc.pre(cookie[i] !== ch);
      const changed = cookie.slice(0, i) + ch + cookie.slice(i + 1);
      const r = s.verify(changed);
      // base64url decodes some distinct characters to the same bytes only at the last position of a group.
      if (!('refused' in r)) assert.deepEqual(Buffer.from(changed.split('.')[1]!, 'base64url'), Buffer.from(cookie.split('.')[1]!, 'base64url'));
    }),
    { numRuns: 500 },
  );
  assert.ok('refused' in s.verify(''));
  assert.ok('refused' in s.verify('v1..'));
  assert.ok('refused' in s.verify(`${cookie}x`));
});

test('sign-out is kept on disk until the session would have expired; CSRF tokens are per session', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-session-'));
  let now = 5000;
  const named = new Map<string, Principal>([['t1', { user: 'dana', roles: ['deployer'], tokenId: 't1' }]]);
  const a = sessions({ now: () => now, stateDir: dir, named });
  const one = a.create({ user: 'admin', roles: ['admin'] });
  const two = a.create({ user: 'admin', roles: ['admin'] });
  const dana = a.create(named.get('t1')!);
  assert.notEqual(one.session.csrf, two.session.csrf);
  assert.ok(a.csrfOk(one.session, one.session.csrf));
  assert.ok(!a.csrfOk(one.session, two.session.csrf));
  assert.ok(!a.csrfOk(one.session, undefined));
  a.signOut(one.session);
  const restarted = sessions({ now: () => now, stateDir: dir, named });
  assert.ok('refused' in restarted.verify(one.cookie), 'still signed out after a restart');
  assert.ok(!('refused' in restarted.verify(two.cookie)));
  assert.ok(!('refused' in restarted.verify(dana.cookie)));
  named.delete('t1');
  const r = restarted.verify(dana.cookie);
  assert.ok('refused' in r && /revoked or expired/.test(r.refused), 'a revoked token ends its sessions');
  now += 2 * 3600_000;
  restarted.signOut(two.session);
  const kept = (x: Sessions) => (x as unknown as { signedOut: Map<string, number> }).signedOut.size;
  assert.equal(kept(restarted), 1, 'an expired sign-out is dropped when the next one is written');
  assert.equal(kept(sessions({ now: () => now, stateDir: dir })), 0, 'and not loaded once expired');
});

test('cookieValue finds one cookie among others', () => {
  assert.equal(cookieValue('a=1; sluice_session=v1.x.y; b=2', 'sluice_session'), 'v1.x.y');
  assert.equal(cookieValue('sluice_session_x=1', 'sluice_session'), undefined);
  assert.equal(cookieValue(undefined, 'sluice_session'), undefined);
});
