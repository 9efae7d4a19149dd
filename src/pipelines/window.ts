/**
 * Deployment windows and freezes: is a stage open at an instant, and if not, when does it
 * open. Pure: the instant is an argument, time zones come from the runtime's IANA data
 * (Intl), nothing else.
 *
 * A window is read on the wall clock of its time zone, so "22:00–23:00 Europe/Madrid" follows
 * daylight saving time: 21:00–22:00 UTC in winter, 20:00–21:00 UTC in summer. On the day a
 * start time does not exist (the clocks jump over it) the window opens when the jump lands,
 * if that is still before its end; on the day it exists twice it opens the first time.
 * A window whose end is before its start spans midnight and belongs to the day it starts.
 * A freeze covers whole local dates, `from` to `to` inclusive, and wins over any window.
 */
import type { DeploymentWindow, Freeze, Weekday } from '../core/pipeline.js';
import type { WindowGate } from './gates.js';

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
const WEEKDAY_OF_UTC_DAY: Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
/** How far ahead the next opening is looked for past the last freeze ends. */
const HORIZON_DAYS = 15;

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The wall clock of `timeZone` at instant `t`, written as if it were a UTC instant (ms). */
export function wallClock(timeZone: string, t: number): number {
  const p: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(t))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) + (t - Math.floor(t / 1000) * 1000);
}

/** The first instant at which the wall clock of `timeZone` reads `wall` or later (`wall` as from wallClock). */
export function instantOf(timeZone: string, wall: number): number {
  const offsets = new Set([-DAY_MS, 0, DAY_MS].map((d) => wallClock(timeZone, wall + d) - (wall + d)));
  const exact = [...offsets].map((o) => wall - o).filter((t) => wallClock(timeZone, t) === wall);
  if (exact.length > 0) return Math.min(...exact);
  // A gap (the clocks jumped over `wall`): the jump lands between the two guesses.
  let lo = wall - Math.max(...offsets);
  let hi = wall - Math.min(...offsets);
  if (wallClock(timeZone, lo) >= wall) return lo;
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (wallClock(timeZone, mid) >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
const localDay = (wall: number): number => Math.floor(wall / DAY_MS) * DAY_MS;
const dateOf = (wall: number): string => new Date(wall).toISOString().slice(0, 10);

function inWindow(w: DeploymentWindow, t: number): boolean {
  const wall = wallClock(w.timeZone, t);
  const day = localDay(wall);
  const minute = Math.floor((wall - day) / MINUTE_MS);
  const start = minutesOf(w.start);
  const end = minutesOf(w.end);
  const weekday = (d: number): Weekday => WEEKDAY_OF_UTC_DAY[new Date(d).getUTCDay()]!;
  if (start < end) return w.days.includes(weekday(day)) && minute >= start && minute < end;
  // Spans midnight: tonight's part belongs to today, this morning's to yesterday.
  return (w.days.includes(weekday(day)) && minute >= start) || (w.days.includes(weekday(day - DAY_MS)) && minute < end);
}

function freezeAt(freezes: Freeze[], t: number): Freeze | undefined {
  return freezes.find((f) => {
    const date = dateOf(wallClock(f.timeZone, t));
    return date >= f.from && date <= f.to;
  });
}

function openAt(windows: DeploymentWindow[], freezes: Freeze[], t: number): boolean {
  return freezeAt(freezes, t) === undefined && (windows.length === 0 || windows.some((w) => inWindow(w, t)));
}

/** The instants after `now` at which a closed stage may open: window starts, and the ends of freezes. */
function openings(windows: DeploymentWindow[], freezes: Freeze[], now: number): number[] {
  const out: number[] = [];
  const thaws = freezes.map((f) => instantOf(f.timeZone, Date.parse(`${f.to}T00:00:00Z`) + DAY_MS)).filter((t) => t > now);
  const last = Math.max(now, ...thaws);
  out.push(...thaws);
  for (const w of windows) {
    const first = localDay(wallClock(w.timeZone, now)) - DAY_MS;
    const until = localDay(wallClock(w.timeZone, last)) + HORIZON_DAYS * DAY_MS;
    for (let day = first; day <= until; day += DAY_MS) {
      if (!w.days.includes(WEEKDAY_OF_UTC_DAY[new Date(day).getUTCDay()]!)) continue;
      const t = instantOf(w.timeZone, day + minutesOf(w.start) * MINUTE_MS);
      if (t > now) out.push(t);
    }
  }
  return out.sort((a, b) => a - b);
}

/** Whether the stage is open at `now`; if not, why and (when within reach) when it opens. */
export function gateOfWindows(windows: DeploymentWindow[], freezes: Freeze[], now: number): WindowGate {
  if (openAt(windows, freezes, now)) return { open: true };
  const until = openings(windows, freezes, now).find((t) => openAt(windows, freezes, t));
  const opens = until !== undefined ? `; opens ${new Date(until).toISOString()}` : '';
  const frozen = freezeAt(freezes, now);
  if (frozen !== undefined) {
    const why = frozen.reason !== undefined ? ` (${frozen.reason})` : '';
    return {
      open: false,
      reason: 'Frozen',
      message: `frozen from ${frozen.from} to ${frozen.to} ${frozen.timeZone}${why}${opens}`,
      ...(until !== undefined ? { until } : {}),
    };
  }
  const shown = windows.map((w) => `${w.days.join(',')} ${w.start}–${w.end} ${w.timeZone}`).join('; ');
  return { open: false, reason: 'OutsideWindow', message: `outside the deployment window (${shown})${opens}`, ...(until !== undefined ? { until } : {}) };
}
