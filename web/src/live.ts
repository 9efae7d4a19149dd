/**
 * The server-sent events of `GET /v1/stream` (src/core/live.ts StreamMessage). EventSource
 * reconnects by itself after a dropped connection; when the server refuses the stream
 * (signed out, restarted without the route yet) it gives up, and this opens a new one later.
 */
import type { StreamMessage } from './types.js';
import { setState } from './store.js';

type Name = StreamMessage['event'];
type DataOf<N extends Name> = Extract<StreamMessage, { event: N }>['data'];
type Listener<N extends Name> = (data: DataOf<N>) => void;

const EVENTS: Name[] = ['hello', 'rollout', 'removed', 'event', 'weights', 'jobs', 'flags', 'releases', 'experiments'];
const listeners = new Map<Name, Set<(data: unknown) => void>>();

export function onStream<N extends Name>(name: N, f: Listener<N>): () => void {
  let set = listeners.get(name);
  if (!set) listeners.set(name, (set = new Set()));
  const g = f as (data: unknown) => void;
  set.add(g);
  return () => set.delete(g);
}

function emit(name: Name, data: unknown): void {
  for (const f of listeners.get(name) ?? []) {
    try {
      f(data);
    } catch (err) {
      console.error(`sluice dashboard: ${name} listener failed`, err);
    }
  }
}

let source: EventSource | undefined;
let retry: ReturnType<typeof setTimeout> | undefined;
let lastServer: string | undefined;
let helloSeen = false;
/** Asked when the stream gave up: is the session still good? (false: stop trying). */
let checkSession: () => Promise<boolean> = async () => true;

/** Everything must be fetched again: called on a hello after a gap or from another server. */
let onResync: () => void = () => {};

export function startStream(options: { onResync: () => void; checkSession: () => Promise<boolean> }): void {
  onResync = options.onResync;
  checkSession = options.checkSession;
  open();
}

export function stopStream(): void {
  if (retry !== undefined) clearTimeout(retry);
  retry = undefined;
  source?.close();
  source = undefined;
  lastServer = undefined;
  helloSeen = false;
}

function open(): void {
  source?.close();
  const es = new EventSource('/v1/stream');
  source = es;
  for (const name of EVENTS) {
    es.addEventListener(name, (e) => {
      let data: unknown;
      try {
        data = JSON.parse((e as MessageEvent<string>).data);
      } catch {
        return;
      }
      if (name === 'hello') hello(data as DataOf<'hello'>);
      emit(name, data);
    });
  }
  es.onopen = () => setState({ connection: 'live' });
  es.onerror = () => {
    if (source !== es) return;
    setState({ connection: 'reconnecting' });
    if (es.readyState === EventSource.CLOSED) {
      // The browser gave up (an error status, not a stream): try again in a while.
      es.close();
      if (retry === undefined)
        retry = setTimeout(async () => {
          retry = undefined;
          if (source !== es) return;
          if (await checkSession().catch(() => true)) open();
        }, 3000);
    }
  };
}

function hello(data: DataOf<'hello'>): void {
  setState({ connection: 'live' });
  // The first hello follows the first load; any later one comes after a gap in which events
  // may have been missed (and a different server id means the control plane restarted).
  if (helloSeen) onResync();
  helloSeen = true;
  lastServer = data.server;
}

/** The id of the control plane the stream last greeted us from. */
export function serverId(): string | undefined {
  return lastServer;
}
