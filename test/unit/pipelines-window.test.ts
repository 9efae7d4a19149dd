/**
 * Deployment windows (src/pipelines/window.ts) on real IANA zones: named cases around
 * daylight-saving changes, and a property that compares the gate with a brute-force walk
 * minute by minute over random windows, freezes, zones and instants.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WEEKDAYS, type DeploymentWindow, type Freeze, type Weekday } from '../../src/core/pipeline.js';
import { gateOfWindows, instantOf, wallClock } from '../../src/pipelines/window.js';

const weekdays = (...d: Weekday[]): Weekday[] => d;
const madrid = (start: string, end: string, days: Weekday[] = [...WEEKDAYS]): DeploymentWindow => ({ days, start, end, timeZone: 'Europe/Madrid' });
const at = (iso: string): number => Date.parse(iso);

test('22:00–23:00 Europe/Madrid is 21:00 UTC in winter and 20:00 UTC in summer, and says when it opens', () => {
  const w = [madrid('22:00', '23:00')];
  assert.deepEqual(gateOfWindows(w, [], at('2026-12-03T21:30:00Z')), { open: true });
  assert.equal(gateOfWindows(w, [], at('2026-07-01T20:30:00Z')).open, true);
  const closed = gateOfWindows(w, [], at('2026-12-03T10:00:00Z'));
  assert.equal(closed.open, false);
  assert.ok(!closed.open && closed.until === at('2026-12-03T21:00:00Z') && closed.reason === 'OutsideWindow');
  assert.match(
    !closed.open ? closed.message : '',
    /outside the deployment window \(mon,tue,wed,thu,fri,sat,sun 22:00–23:00 Europe\/Madrid\); opens 2026-12-03T21:00:00.000Z/,
  );
  // The end is exclusive.
  assert.equal(gateOfWindows(w, [], at('2026-12-03T22:00:00Z')).open, false);
});

test('weekdays only: Friday night after the window waits until Monday', () => {
  const g = gateOfWindows([madrid('22:00', '23:00', weekdays('mon', 'tue', 'wed', 'thu', 'fri'))], [], at('2026-12-04T22:30:00Z'));
  assert.ok(!g.open && g.until === at('2026-12-07T21:00:00Z'));
});

test('a window across midnight belongs to the day it starts', () => {
  const w = [madrid('23:00', '01:00', weekdays('fri'))];
  assert.equal(gateOfWindows(w, [], at('2026-12-04T22:30:00Z')).open, true); // Fri 23:30
  assert.equal(gateOfWindows(w, [], at('2026-12-04T23:30:00Z')).open, true); // Sat 00:30
  assert.equal(gateOfWindows(w, [], at('2026-12-03T23:30:00Z')).open, false); // Fri 00:30 belongs to Thursday
});

test('daylight saving: a start the clocks jump over opens when they land; a repeated hour opens the first time', () => {
  // Europe/Madrid, 2026-03-29: 02:00 → 03:00. A 02:30–03:30 window opens at 03:00 local (01:00 UTC).
  const spring = gateOfWindows([madrid('02:30', '03:30')], [], at('2026-03-28T23:00:00Z'));
  assert.ok(!spring.open && spring.until === at('2026-03-29T01:00:00Z'));
  assert.equal(instantOf('Europe/Madrid', Date.UTC(2026, 2, 29, 2, 30)), at('2026-03-29T01:00:00Z'));
  // 2026-10-25: 03:00 → 02:00. 02:30 happens at 00:30 and 01:30 UTC; the window opens at the first.
  assert.equal(instantOf('Europe/Madrid', Date.UTC(2026, 9, 25, 2, 30)), at('2026-10-25T00:30:00Z'));
  const fall = gateOfWindows([madrid('02:30', '02:45')], [], at('2026-10-24T22:00:00Z'));
  assert.ok(!fall.open && fall.until === at('2026-10-25T00:30:00Z'));
  assert.equal(gateOfWindows([madrid('02:30', '02:45')], [], at('2026-10-25T01:35:00Z')).open, true); // the second 02:35
});

test('a freeze covers whole local dates and wins over the window; it says why and when deployment resumes', () => {
  const freezes: Freeze[] = [{ from: '2026-12-24', to: '2026-12-26', timeZone: 'Europe/Madrid', reason: 'holidays' }];
  const g = gateOfWindows([madrid('22:00', '23:00')], freezes, at('2026-12-24T21:30:00Z'));
  assert.ok(!g.open && g.reason === 'Frozen' && g.until === at('2026-12-27T21:00:00Z'));
  assert.match(!g.open ? g.message : '', /^frozen from 2026-12-24 to 2026-12-26 Europe\/Madrid \(holidays\); opens 2026-12-27T21:00:00.000Z$/);
  // No window: open whenever not frozen; the freeze ends at local midnight.
  const h = gateOfWindows([], freezes, at('2026-12-25T12:00:00Z'));
  assert.ok(!h.open && h.until === at('2026-12-26T23:00:00Z'));
  assert.equal(gateOfWindows([], freezes, at('2026-12-26T23:00:00Z')).open, true);
});

test('wallClock reads the zone, half-hour and 45-minute offsets included', () => {
  assert.equal(wallClock('Asia/Kolkata', at('2026-01-01T00:00:00Z')), Date.UTC(2026, 0, 1, 5, 30));
  assert.equal(wallClock('Pacific/Chatham', at('2026-06-01T00:00:00Z')), Date.UTC(2026, 5, 1, 12, 45));
});

// ---- the property: the gate agrees with a brute-force walk, minute by minute ----

const ZONES = ['Europe/Madrid', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', 'Pacific/Chatham', 'UTC', 'America/Santiago', 'Etc/GMT-2'];
const hhmm = fc.integer({ min: 0, max: 24 * 4 - 1 }).map((q) => `${String(Math.floor(q / 4)).padStart(2, '0')}:${String((q % 4) * 15).padStart(2, '0')}`);
const windowArb: fc.Arbitrary<DeploymentWindow> = fc
  .record({ days: fc.subarray([...WEEKDAYS], { minLength: 1 }), start: hhmm, end: hhmm, timeZone: fc.constantFrom(...ZONES) })
  .filter((w) => w.start !== w.end);
const dateArb = fc.integer({ min: 0, max: 20 }).map((d) => new Date(Date.UTC(2026, 2, 20) + d * 86_400_000).toISOString().slice(0, 10));
const freezeArb: fc.Arbitrary<Freeze> = fc
  .record({ from: dateArb, len: fc.integer({ min: 0, max: 2 }), timeZone: fc.constantFrom(...ZONES) })
  .map(({ from, len, timeZone }) => ({ from, to: new Date(Date.parse(from) + len * 86_400_000).toISOString().slice(0, 10), timeZone }));
// Instants around the March/April daylight-saving changes of both hemispheres.
const instantArb = fc.integer({ min: 0, max: 20 * 24 * 60 }).map((m) => Date.UTC(2026, 2, 22) + m * 60_000 + 17_000);

/** The reference: minute by minute (every window edge and freeze end falls on a minute). */
function bruteForce(windows: DeploymentWindow[], freezes: Freeze[], now: number): { open: boolean; until?: number } {
  const local = (tz: string, t: number) => {
    const w = wallClock(tz, t);
    const d = new Date(w);
    return { weekday: WEEKDAYS[(d.getUTCDay() + 6) % 7]!, minute: d.getUTCHours() * 60 + d.getUTCMinutes(), date: d.toISOString().slice(0, 10) };
  };
  const previous = (d: Weekday) => WEEKDAYS[(WEEKDAYS.indexOf(d) + 6) % 7]!;
  const mins = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3));
  const open = (t: number) =>
    !freezes.some((f) => {
      const d = local(f.timeZone, t).date;
      return d >= f.from && d <= f.to;
    }) &&
    (windows.length === 0 ||
      windows.some((w) => {
        const l = local(w.timeZone, t);
        const [s, e] = [mins(w.start), mins(w.end)];
        return s < e
          ? w.days.includes(l.weekday) && l.minute >= s && l.minute < e
          : (w.days.includes(l.weekday) && l.minute >= s) || (w.days.includes(previous(l.weekday)) && l.minute < e);
      }));
  if (open(now)) return { open: true };
  for (let t = Math.ceil(now / 60_000) * 60_000; t < now + 9 * 86_400_000; t += 60_000) if (open(t)) return { open: false, until: t };
  return { open: false };
}

test('property: open/closed and the next opening agree with a minute-by-minute walk (random windows, freezes, zones, DST changes)', () => {
  fc.assert(
    fc.property(fc.array(windowArb, { minLength: 0, maxLength: 2 }), fc.array(freezeArb, { maxLength: 2 }), instantArb, (windows, freezes, now) => {
      const g = gateOfWindows(windows, freezes, now);
      const ref = bruteForce(windows, freezes, now);
      assert.equal(g.open, ref.open);
      if (!g.open) {
        if (ref.until !== undefined)
          assert.equal(g.until, ref.until, `next opening ${g.until && new Date(g.until).toISOString()} vs ${new Date(ref.until).toISOString()}`);
        else assert.ok(g.until === undefined || g.until >= now + 9 * 86_400_000);
      }
    }),
    { numRuns: Number(process.env.WINDOW_RUNS ?? 150) },
  );
});
