/** Formatting shared by the pages: times in the viewer's zone, percentages, durations. */
import type { RolloutSummary } from './types.js';

export function time(ms: number | undefined | null): string {
  if (ms === undefined || ms === null || !Number.isFinite(ms) || ms <= 0) return '—';
  return new Date(ms).toLocaleString();
}

export function shortTime(ms: number): string {
  return new Date(ms).toLocaleTimeString();
}

export function weights(ws: RolloutSummary['weights'] | undefined): string {
  if (!ws || ws.length === 0) return '—';
  return ws.map((w) => `r${w.revision} ${round(w.weight)}%`).join(' · ');
}

export function round(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return String(n);
  const f = 10 ** digits;
  return String(Math.round(n * f) / f);
}

export function percent(share: number | undefined, digits = 1): string {
  if (share === undefined || !Number.isFinite(share)) return '—';
  return `${round(share * 100, digits)}%`;
}

export function seconds(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '—';
  if (s < 90) return `${round(s, 0)} s`;
  if (s < 5400) return `${round(s / 60, 1)} min`;
  if (s < 172_800) return `${round(s / 3600, 1)} h`;
  return `${round(s / 86_400, 1)} d`;
}

export function value(v: unknown): string {
  if (v === undefined || v === null) return '—';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(4).replace(/\.?0+$/, '');
  if (typeof v === 'string' || typeof v === 'boolean') return String(v);
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
