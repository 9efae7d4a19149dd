/**
 * "Zero lost state" for the chaos test: what the control plane has told a user (a
 * revision, an event, a rollout) must still be there later, across kill -9 and restarts.
 */
import type { ApiClient } from '../../src/api/client.js';
import type { Revision, RolloutEvent, RolloutStatus } from '../../src/core/rollout.js';

export interface RolloutState {
  source: string;
  status: RolloutStatus;
  revisions: Revision[];
  events: RolloutEvent[];
}

export type StateSnapshot = Map<string, RolloutState>;

async function allEvents(client: ApiClient, name: string): Promise<RolloutEvent[]> {
  const out: RolloutEvent[] = [];
  for (;;) {
    const page = await client.events(name, { afterId: out.at(-1)?.id ?? 0, limit: 1000 });
    out.push(...page);
    if (page.length < 1000) return out;
  }
}

/** Every rollout with its full history and every event, read through the API. */
export async function snapshot(client: ApiClient): Promise<StateSnapshot> {
  const views = await client.list();
  const state: StateSnapshot = new Map();
  for (const v of views) {
    state.set(v.name, { source: v.source, status: v.status, revisions: await client.history(v.name), events: await allEvents(client, v.name) });
  }
  return state;
}

const revisionKey = (r: Revision): string => JSON.stringify([r.number, r.hash, r.template.version, r.cause, r.createdAt]);
const eventKey = (e: RolloutEvent): string => JSON.stringify([e.id, e.at, e.reason, e.message, e.actor, e.revision ?? null]);

/**
 * What `before` had that `after` lost or changed: rollouts, revisions, events, and (with
 * `sameSource`, when no apply happened in between) the applied source.
 */
export function lostBetween(before: StateSnapshot, after: StateSnapshot, when: string, sameSource = true): string[] {
  const problems: string[] = [];
  for (const [name, b] of before) {
    const a = after.get(name);
    if (a === undefined) {
      problems.push(`${when}: rollout ${name} is gone`);
      continue;
    }
    if (sameSource && a.source !== b.source) problems.push(`${when}: rollout ${name}'s applied source changed`);
    const revs = new Set(a.revisions.map(revisionKey));
    for (const r of b.revisions)
      if (!revs.has(revisionKey(r))) problems.push(`${when}: ${name} revision ${r.number} (${r.template.version}) is gone or changed`);
    const events = new Set(a.events.map(eventKey));
    const lost = b.events.filter((e) => !events.has(eventKey(e)));
    if (lost.length > 0) problems.push(`${when}: ${name} lost ${lost.length} event(s), first #${lost[0].id} ${lost[0].reason}: ${lost[0].message}`);
  }
  return problems;
}

/** A revision number a CLI command reported (apply, undo), with the version it must hold. */
export interface PromisedRevision {
  rollout: string;
  revision: number;
  /** Absent when the command did not say which template it chose (undo). */
  version?: string;
  by: string;
}

/** Promised revisions and user actions the CLI reported as done, checked against a snapshot. */
export function missingPromises(state: StateSnapshot, promised: PromisedRevision[], actionsDone: Map<string, number>): string[] {
  const problems: string[] = [];
  for (const p of promised) {
    const r = state.get(p.rollout)?.revisions.find((x) => x.number === p.revision);
    if (r === undefined) problems.push(`${p.by} reported revision ${p.revision} of ${p.rollout}, which is not in its history`);
    else if (p.version !== undefined && r.template.version !== p.version)
      problems.push(`${p.by} reported revision ${p.revision} of ${p.rollout} as ${p.version}; history has ${r.template.version}`);
  }
  for (const [name, done] of actionsDone) {
    const userEvents = (state.get(name)?.events ?? []).filter((e) => e.actor !== 'engine').length;
    if (userEvents < done) problems.push(`${name}: the CLI reported ${done} user action(s) done, but only ${userEvents} event(s) by a user are stored`);
  }
  return problems;
}
