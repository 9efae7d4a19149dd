/**
 * The little state the whole page shares: the session, the overview's rollouts (kept live
 * by the stream), the connection state, and an epoch that grows whenever everything must
 * be fetched again (the control plane restarted, the stream came back after a gap).
 */
import { useEffect, useState } from 'preact/hooks';
import type { Overview, RolloutSummary, SessionInfo } from './types.js';

export type Connection = 'connecting' | 'live' | 'reconnecting';

export interface AppState {
  /** undefined: not known yet; null: signed out. */
  session: SessionInfo | null | undefined;
  rollouts: ReadonlyMap<string, RolloutSummary>;
  environments: Overview['environments'];
  /** The overview answered at least once. */
  overviewLoaded: boolean;
  overviewError: string | undefined;
  connection: Connection;
  /** Grows when every page should fetch its data again. */
  epoch: number;
}

let state: AppState = {
  session: undefined,
  rollouts: new Map(),
  environments: [],
  overviewLoaded: false,
  overviewError: undefined,
  connection: 'connecting',
  epoch: 0,
};
const subscribers = new Set<() => void>();

export function getState(): AppState {
  return state;
}

export function setState(patch: Partial<AppState>): void {
  state = { ...state, ...patch };
  for (const s of subscribers) s();
}

/** The part of the state a component reads; it re-renders when that part changes. */
export function useAppState<T>(pick: (s: AppState) => T): T {
  const [value, setValue] = useState(() => pick(state));
  useEffect(() => {
    const update = () => setValue(() => pick(state));
    subscribers.add(update);
    update();
    return () => {
      subscribers.delete(update);
    };
  }, []);
  return value;
}

/** Rollout updates from the stream, applied together (a burst of 500 is one render). */
const pending = new Map<string, RolloutSummary | null>();
let flushTimer: ReturnType<typeof setTimeout> | undefined;

export function queueRollout(name: string, summary: RolloutSummary | null): void {
  pending.set(name, summary);
  if (flushTimer === undefined) flushTimer = setTimeout(flushRollouts, 50);
}

function flushRollouts(): void {
  flushTimer = undefined;
  const next = new Map(state.rollouts);
  for (const [name, s] of pending) {
    if (s === null) next.delete(name);
    else next.set(name, s);
  }
  pending.clear();
  setState({ rollouts: next });
}

export function setOverview(o: Overview): void {
  pending.clear();
  setState({
    rollouts: new Map(o.rollouts.map((r) => [r.name, r])),
    environments: o.environments ?? [],
    overviewLoaded: true,
    overviewError: undefined,
  });
}
