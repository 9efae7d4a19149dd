/**
 * `sluice flags stale`: which flags to clean up, and why. Pure: the flags, when each last
 * changed, and the time in; no store, no clock.
 */
import type { FlagRecord } from '../../core/flags.js';

export const DAY_MS = 24 * 60 * 60 * 1000;
/** The playbooks' lifecycle rule: a flag older than this is stale unless permanent. */
export const MAX_AGE_DAYS = 90;
export const DEFAULT_STALE_DAYS = 30;

export interface StaleFlag {
  name: string;
  owner?: string;
  /** Why it is stale, each one line, most pressing first (expired, fully on/off, old). */
  reasons: string[];
}

/**
 * What the flag serves to everyone, or undefined when it depends on who asks (targeting,
 * a conditional `enable`, a percentage strictly between 0 and 100, a ramp under way).
 */
export function servesEveryone(f: FlagRecord): { variant: string; why: string } | undefined {
  const { spec, state } = f;
  if (state.killed) return { variant: spec.offVariant, why: 'killed' };
  if (spec.state === 'DISABLED') return { variant: spec.defaultVariant, why: 'DISABLED' };
  if (state.ramp && (state.ramp.phase === 'Progressing' || state.ramp.phase === 'Paused')) return undefined;
  if (spec.targeting !== undefined) return undefined;
  const e = spec.enable;
  if (!e) return { variant: spec.defaultVariant, why: 'no targeting' };
  const conditional =
    (e.segments?.length ?? 0) > 0 ||
    Object.keys(e.attributes ?? {}).length > 0 ||
    (e.countries?.length ?? 0) > 0 ||
    e.minAccountAgeDays !== undefined ||
    e.from !== undefined ||
    e.until !== undefined;
  if (conditional) return undefined;
  const pct = state.percentage ?? e.percentage ?? 100;
  if (pct >= 100) return { variant: e.variant, why: '100 %' };
  if (pct <= 0) return { variant: spec.defaultVariant, why: '0 %' };
  return undefined;
}

/** "on"/"off" for a boolean variant, else the variant's name. */
function describeServed(f: FlagRecord, variant: string): string {
  const v = f.spec.variants[variant];
  if (v === true) return `fully on (${variant})`;
  if (v === false) return `fully off (${variant})`;
  return `"${variant}" for everyone`;
}

const days = (ms: number) => Math.floor(ms / DAY_MS);

/**
 * Flags fully on or off for at least `options.days` (since their last change: state,
 * events or creation), past `expires`, or created more than 90 days ago — permanent flags
 * only for `expires`. Sorted by name.
 */
export function staleFlags(
  flags: readonly FlagRecord[],
  lastChange: (flag: string) => number | undefined,
  options: { days?: number; now: number },
): StaleFlag[] {
  const limit = options.days ?? DEFAULT_STALE_DAYS;
  const now = options.now;
  const out: StaleFlag[] = [];
  for (const f of [...flags].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const life = f.spec.lifecycle;
    const reasons: string[] = [];
    if (life.expires !== undefined && now >= life.expires) {
      reasons.push(`expired ${days(now - life.expires)} day(s) ago (${new Date(life.expires).toISOString().slice(0, 10)})`);
    }
    if (!life.permanent) {
      const served = servesEveryone(f);
      if (served) {
        const since = Math.max(f.createdAt, f.state.updatedAt, lastChange(f.name) ?? 0);
        if (now - since >= limit * DAY_MS) reasons.push(`${describeServed(f, served.variant)}, ${served.why}, unchanged for ${days(now - since)} day(s)`);
      }
      const created = life.created ?? f.createdAt;
      if (now - created > MAX_AGE_DAYS * DAY_MS) reasons.push(`created ${days(now - created)} days ago (over ${MAX_AGE_DAYS}) and not permanent`);
    }
    if (reasons.length > 0) out.push({ name: f.name, ...(life.owner !== undefined ? { owner: life.owner } : {}), reasons });
  }
  return out;
}
