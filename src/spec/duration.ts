import type { IntOrPercent } from '../core/spec.js';

/**
 * Spec value syntaxes shared by every resource: durations ("30s", "1h30m", "500ms" or
 * plain seconds) and percentages ("25%" or a number). The parsers throw RangeError with
 * a short reason; the schema turns that into a positioned UserError.
 */

const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ms|h|m|s)/y;
const PLAIN_NUMBER = /^(?:\d+(?:\.\d*)?|\.\d+)$/;

/** Seconds in a duration: `30s`, `5m`, `1h`, `1h30m`, `500ms`, `1.5s`, or a number of seconds. */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new RangeError('a duration must be a finite number of seconds ≥ 0');
    return input;
  }
  const text = input.trim();
  if (PLAIN_NUMBER.test(text)) return Number(text);
  let seconds = 0;
  let at = 0;
  DURATION_PART.lastIndex = 0;
  while (at < text.length) {
    DURATION_PART.lastIndex = at;
    const m = DURATION_PART.exec(text);
    if (!m) throw new RangeError(`not a duration: ${JSON.stringify(input)}`);
    const n = Number(m[1]);
    // ms divides rather than multiplies by 0.001 so that 300ms is exactly 0.3.
    seconds += m[2] === 'ms' ? n / 1000 : n * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
    at = DURATION_PART.lastIndex;
  }
  if (text.length === 0) throw new RangeError('an empty string is not a duration');
  return seconds;
}

/** A percentage, `25%` or `25`; fractions allowed; ≥ 0 (the caller bounds it above). */
export function parsePercent(input: string | number): number {
  const text = typeof input === 'number' ? String(input) : input.trim().replace(/%$/, '').trim();
  if (typeof input === 'number' ? !Number.isFinite(input) || input < 0 : !PLAIN_NUMBER.test(text)) {
    throw new RangeError(`not a percentage: ${JSON.stringify(input)}`);
  }
  return Number(text);
}

/**
 * Kubernetes' int-or-string: a whole count (`2`) or a whole percentage (`"25%"`).
 * A bare number is a count, as in Kubernetes; only the `%` suffix makes a percentage.
 */
export function parseIntOrPercent(input: string | number): IntOrPercent {
  if (typeof input === 'number') {
    if (!Number.isInteger(input) || input < 0) throw new RangeError(`not a whole count ≥ 0: ${input}`);
    return { count: input };
  }
  const m = /^\s*(\d+)\s*(%?)\s*$/.exec(input);
  if (!m) throw new RangeError(`not a count or whole percentage: ${JSON.stringify(input)}`);
  return m[2] ? { percent: Number(m[1]) } : { count: Number(m[1]) };
}

/** The shortest duration text for a number of seconds: 90 → "1m30s", 0.5 → "500ms". */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.round((seconds % 60) * 1000) / 1000;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}
