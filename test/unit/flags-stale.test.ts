import { test } from 'node:test';
import assert from 'node:assert/strict';
import { staleFlags } from '../../src/engine/flags/stale.js';
import { DAY, flagRecord } from '../helpers/flag-fixtures.js';

const NOW = 1_000 * DAY;

// One flag per case; the names say which are stale.
const fixture = [
  // 120 days old, ramping at 10 %: stale for its age only
  flagRecord('old', NOW - 120 * DAY, {}, { updatedAt: NOW - 1 * DAY }),
  // young but past expires
  flagRecord('expired', NOW - 5 * DAY, { lifecycle: { permanent: false, expires: NOW - 2 * DAY, owner: 'team-b' } }),
  // permanent, old and fully on for long: never stale for that…
  flagRecord('permanent-old-on', NOW - 400 * DAY, { enable: { variant: 'on' }, lifecycle: { permanent: true, owner: 'ops' } }),
  // …but past its expiry it is
  flagRecord('permanent-expired', NOW - 10 * DAY, { lifecycle: { permanent: true, expires: NOW - DAY } }),
  // fully on (100 %) since 40 days
  flagRecord('full-on', NOW - 60 * DAY, {}, { percentage: 100, updatedAt: NOW - 40 * DAY }),
  // fully on, but only for 10 days
  flagRecord('full-on-recent', NOW - 60 * DAY, {}, { percentage: 100, updatedAt: NOW - 10 * DAY }),
  // killed 31 days ago: fully off
  flagRecord('killed', NOW - 50 * DAY, {}, { killed: true, updatedAt: NOW - 31 * DAY }),
  // 0 % since 30 days exactly
  flagRecord('zero', NOW - 50 * DAY, {}, { percentage: 0, updatedAt: NOW - 30 * DAY }),
  // no targeting at all: the default for everyone, 35 days
  flagRecord('plain', NOW - 35 * DAY, { enable: undefined }),
  // 100 % but only for premium users: depends on who asks
  flagRecord('segment', NOW - 60 * DAY, { enable: { variant: 'on', segments: ['premium'] } }, { percentage: 100, updatedAt: NOW - 40 * DAY }),
  // raw targeting: depends on who asks
  flagRecord('targeted', NOW - 60 * DAY, { enable: undefined, targeting: { if: [true, 'on', 'off'] } }),
  // fully on for long, but an event 5 days ago changed it
  flagRecord('changed-lately', NOW - 60 * DAY, {}, { percentage: 100, updatedAt: NOW - 40 * DAY }),
];
const lastChange = (flag: string) => (flag === 'changed-lately' ? NOW - 5 * DAY : undefined);

test('stale lists exactly the old, expired and long fully-on/off flags, with owners and reasons; permanent ones only past expiry', () => {
  const stale = staleFlags(fixture, lastChange, { now: NOW });
  assert.deepEqual(
    stale.map((s) => s.name),
    ['expired', 'full-on', 'killed', 'old', 'permanent-expired', 'plain', 'zero'],
  );
  const by = Object.fromEntries(stale.map((s) => [s.name, s]));
  assert.equal(by.expired!.owner, 'team-b');
  assert.match(by.expired!.reasons[0]!, /^expired 2 day\(s\) ago/);
  assert.deepEqual(by.old!.reasons, ['created 120 days ago (over 90) and not permanent']);
  assert.deepEqual(by['full-on']!.reasons, ['fully on (on), 100 %, unchanged for 40 day(s)']);
  assert.deepEqual(by.killed!.reasons, ['fully off (off), killed, unchanged for 31 day(s)']);
  assert.deepEqual(by.plain!.reasons, ['fully off (off), no targeting, unchanged for 35 day(s)']);
  assert.equal(by['permanent-expired']!.reasons.length, 1);
});

test('--days moves the fully-on/off line, not the age or expiry rules', () => {
  assert.deepEqual(
    staleFlags(fixture, lastChange, { now: NOW, days: 8 }).map((s) => s.name),
    ['expired', 'full-on', 'full-on-recent', 'killed', 'old', 'permanent-expired', 'plain', 'zero'],
  );
  assert.deepEqual(
    staleFlags(fixture, lastChange, { now: NOW, days: 365 }).map((s) => s.name),
    ['expired', 'old', 'permanent-expired'],
  );
});
