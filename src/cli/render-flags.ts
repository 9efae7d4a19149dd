/** Pure rendering of feature flags for `sluice flags …` (render.ts style: data in, text out). */
import type { FlagList, FlagPushStatus, FlagView } from '../engine/flags/controller.js';
import type { StaleFlag } from '../engine/flags/stale.js';
import type { RolloutEvent } from '../core/rollout.js';
import { formatAge, renderEventLine, renderTable } from './render.js';

/** One line on where pushes stand; empty when all is served. */
export function renderPushStatus(p: FlagPushStatus, now: number): string {
  if (p.error !== undefined) {
    const since = p.failingSince !== undefined ? ` for ${formatAge(now - p.failingSince)}` : '';
    return `data plane: NOT up to date${since} (served generation ${p.servedGeneration}, latest ${p.generation}): ${p.error}`;
  }
  if (p.pending) return `data plane: push of generation ${p.generation} in progress`;
  return '';
}

export function renderFlagList(list: FlagList, now: number): string {
  const rows = list.flags.map((f) => [
    f.name,
    f.type,
    f.killed ? 'KILLED' : f.percentage !== undefined ? `${f.percentage}%` : 'on',
    f.ramp ?? '-',
    f.owner ?? '-',
    String(f.evaluations),
    f.lastEvaluatedAt !== undefined ? `${formatAge(now - f.lastEvaluatedAt)} ago` : '-',
    formatAge(now - f.createdAt),
  ]);
  const table =
    list.flags.length === 0
      ? 'no flags yet: `sluice apply -f FILE` with a kind: FeatureFlag document creates one'
      : renderTable(['NAME', 'TYPE', 'SERVING', 'RAMP', 'OWNER', 'EVALUATIONS', 'LAST', 'AGE'], rows);
  const push = renderPushStatus(list.push, now);
  return push ? `${table}\n${push}` : table;
}

export function renderFlagView(v: FlagView, now: number): string {
  const s = v.spec;
  const lines = [
    `Name:        ${v.name}`,
    `Type:        ${s.type}${s.state === 'DISABLED' ? ' (DISABLED)' : ''}`,
    `Variants:    ${Object.entries(s.variants)
      .map(([k, val]) => `${k}=${JSON.stringify(val)}`)
      .join(', ')}`,
    `Default:     ${s.defaultVariant} (off variant ${s.offVariant})`,
    `State:       ${v.state.killed ? `KILLED: serves "${s.offVariant}" to everyone` : 'live'}${v.state.percentage !== undefined ? `, percentage ${v.state.percentage}%` : ''}`,
  ];
  if (s.enable) lines.push(`Enable:      ${JSON.stringify(s.enable)}`);
  if (s.lifecycle.owner) lines.push(`Owner:       ${s.lifecycle.owner}`);
  if (s.lifecycle.description) lines.push(`Description: ${s.lifecycle.description}`);
  lines.push(
    `Created:     ${formatAge(now - v.createdAt)} ago${s.lifecycle.permanent ? ' (permanent)' : ''}${s.lifecycle.expires !== undefined ? `, expires ${new Date(s.lifecycle.expires).toISOString()}` : ''}`,
  );
  if (v.state.ramp) lines.push(`Ramp:        ${v.state.ramp.phase} step ${v.state.ramp.stepIndex + 1}: ${v.state.ramp.message}`);
  lines.push('', 'Evaluations:');
  lines.push(
    v.usage.length === 0
      ? '  none counted yet'
      : renderTable(
          ['VARIANT', 'COUNT', 'LAST'],
          v.usage.map((u) => [u.variant === '' ? '(error)' : u.variant, String(u.count), `${formatAge(now - u.lastEvaluatedAt)} ago`]),
        ),
  );
  lines.push('', 'Compiled (flagd):', v.compiled !== undefined ? JSON.stringify(v.compiled, null, 2) : `  cannot compile: ${v.compileError}`);
  const push = renderPushStatus(v.push, now);
  if (push) lines.push('', push);
  return lines.join('\n');
}

export function renderFlagHistory(events: RolloutEvent[]): string {
  return events.length === 0 ? 'no events' : events.map(renderEventLine).join('\n');
}

export function renderStale(stale: StaleFlag[], days: number): string {
  if (stale.length === 0) return `no stale flags (none fully on or off for ${days} days, past expiry, or older than 90 days)`;
  return renderTable(
    ['NAME', 'OWNER', 'WHY'],
    stale.map((s) => [s.name, s.owner ?? '-', s.reasons.join('; ')]),
  );
}
