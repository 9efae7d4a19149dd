import type { FlagUsage } from '../core/flags.js';
import type { ListenerFailure } from '../core/traffic-router.js';

/**
 * The builtin router's admin HTTP API (default 127.0.0.1:9901, set by --admin).
 *
 * Every error answer is {error, code} (src/http/server.ts): `error` one line, `code` stable.
 * Access, checked before anything else, in this order:
 *   - a `Host` that is not 127.0.0.1, localhost, [::1] or the --admin host, with the port
 *     the request came in on → 403 (DNS rebinding);
 *   - any `Origin` header → 403: no web page may call the router (a text/plain or form POST
 *     needs no CORS preflight, so refusing browsers outright is the only safe rule);
 *   - every endpoint but /healthz needs `Authorization: Bearer <token>`, the token in
 *     <state-dir>/router/admin-token (src/router/credential.ts; 0600 in the 0700 state dir,
 *     so only that state directory's control plane has it); missing or wrong → 401
 *     (compared in constant time, never logged);
 *   - a request with a body must be `content-type: application/json` → else 415.
 * --admin on a non-loopback address is refused unless --allow-remote (then it is plain HTTP
 * with a bearer token: anyone on the path can read the token).
 *
 *   GET  /healthz                     200 "ok" (liveness only: says nothing of whose router it is)
 *   GET  /identity                    200 RouterIdentity: the control plane checks it talks to
 *                                     its own state directory's router
 *   GET  /routes                      200 RouteTable (the one in effect)
 *   PUT  /routes       body RouteTable 200 {generation, failed: ListenerFailure[]} once in
 *                                     effect: `failed` lists the listeners that could not be
 *                                     opened (address in use, unresolvable host, no permission);
 *                                     they serve nothing, the rest of the table is in effect,
 *                                     and each later PUT tries them again. 400 {error} if invalid;
 *                                     409 {error, generation} if the generation is older than
 *                                     the one in effect, or more than MAX_GENERATION_STEP past it
 *                                     (the caller continues from `generation`)
 *   GET  /endpoints/:id/idle?timeoutMs=N
 *                                     200 {idle: boolean, inflight: number} as soon as no request
 *                                     is in flight to that endpoint, or after timeoutMs
 *   GET  /traffic                     200 RevisionTraffic[] (cumulative counters)
 *   GET  /window?rollout=R&revision=N&sinceMs=T[&role=main|canary|preview]
 *                                     200 WindowStats over the requests of revision N of rollout R
 *                                     that ended at or after T (epoch ms); 400 {error} on bad input
 *   GET  /samples?rollout=R&revision=N&sinceMs=T[&max=M][&role=…]
 *                                     200 RevisionSampleList: the M (default 5000, at most the
 *                                     ring capacity) most recent of those requests, oldest first
 *   GET  /mismatches?rollout=R[&revision=N]
 *                                     200 {mismatches: MismatchRecord[]} (src/router/mirror.ts): the
 *                                     last 20 mirrored copies per shadow revision whose answer
 *                                     differed from the primary's, newest first, with the first
 *                                     differences (path, primary value, shadow value)
 *   GET  /flags                       200 FlagPush (src/core/flags.ts) in effect; before any push
 *                                     {generation: 0, listen: "", document: {flags: {}}, tokens: []}
 *   PUT  /flags        body FlagPush  200 FlagApplyAnswer once the router serves it: persisted
 *                                     first, then in effect for the next OFREP request. The OFREP
 *                                     endpoint listens on `listen` (src/flags/ofrep.ts answers);
 *                                     a new address is opened before the old one closes (after
 *                                     draining). An address that cannot be opened is reported in
 *                                     `failed`: the flags take effect anyway, OFREP stays on the
 *                                     address it had (`listening`), and each later PUT tries again.
 *                                     400 {error} on a bad shape or flags the OFREP service refuses
 *                                     (nothing changes); 409 {error, generation} on an older
 *                                     generation or a jump past MAX_GENERATION_STEP, as PUT /routes;
 *                                     503 during a handover (retry)
 *   GET  /flags/usage                 200 FlagUsageAnswer: evaluation counters since this router
 *                                     process started, with its instanceId (a new one: counters
 *                                     restarted, a handover included)
 *   GET  /metrics                     200 Prometheus text format (sluice_requests_total…,
 *                                     sluice_mirror_requests_total{rollout,revision,route}…)
 *   GET  /experiments/records?after=SEQ&max=N
 *                                     200 ExperimentRecordBatch (src/core/experiment.ts): the
 *                                     journal's records with seq > after (default 0) and above the
 *                                     acknowledged cursor, oldest first, at most N (default 5000,
 *                                     at most 50000); the records queued in memory are flushed
 *                                     first. 400 {error} on a bad after/max
 *   POST /experiments/ack  body {journal, upTo}
 *                                     200 {acked}: records ≤ upTo are no longer kept (segments
 *                                     fully acknowledged are deleted); 409 if `journal` is not this
 *                                     state dir's journal id (pull again), 400 past the last seq.
 *                                     Exposures and conversions (src/router/experiments/): the
 *                                     journal lives in <state-dir>/router/experiments/journal/,
 *                                     survives restarts and handovers, and seq continues
 *   POST /shutdown                    200, then stops listening and exits once drained
 *   POST /handover     body HandoverOptions or none
 *                                     restarts the router without closing its sockets: starts a
 *                                     successor (this router's own options; any other field in the
 *                                     body → 400) that serves the table
 *                                     in effect on the same listening sockets, admin included;
 *                                     200 HandoverResult once it serves, then this process stops
 *                                     accepting, drains and exits. 409 if a handover is already
 *                                     under way; 500 {error} if the successor failed (this
 *                                     process keeps serving). PUT /routes answers 503 meanwhile.
 *
 * Every route-table change is written to <state-dir>/router/routes.json (atomically) before
 * it is acknowledged, and loaded from there at start. Every flag push likewise to
 * <state-dir>/router/flags.json (0600: it holds the client tokens' hashes), so a restarted
 * router answers OFREP with the last flags at once. POST /handover passes the push and the
 * OFREP socket to the successor; the old process then ends its change streams (SSE; the
 * clients reconnect) and drains its OFREP requests.
 *
 * Windows and samples come from a ring of the most recent requests per (rollout, revision)
 * (65,536 by default, --sample-capacity), counted across all listeners that route to the
 * revision (main, canary and preview serve the same code) unless `role` narrows it. A
 * request counts when its response finishes (or the client leaves), with the status the
 * client got: the router's own 502/503/504 are errors like the app's 5xx; a client that
 * left before any answer has status 0 and is not an error. A revision the router has not
 * routed to (yet) answers with zero requests, not 404. A revision that leaves the route
 * table keeps its samples for 10 minutes.
 */
export const DEFAULT_ROUTER_ADMIN = '127.0.0.1:9901';
/**
 * After a handover, a request that still reaches the old process (on a keep-alive connection
 * opened before) gets 503 with this header (the successor's pid) and `Connection: close`:
 * it did nothing, ask again.
 */
export const SUCCESSOR_HEADER = 'x-sluice-router-successor';

/**
 * How far past the generation in effect a table may jump. The control plane counts up by
 * one per table; the bound keeps a buggy or stale caller from pushing the generation to
 * 2^53−1, which would lock every later table out.
 */
export const MAX_GENERATION_STEP = 1000;

/** GET /identity. */
export interface RouterIdentity {
  /** The state directory the router was started with, as an absolute real path. */
  stateDir: string;
  pid: number;
  /** Random per router process: tells a restarted router from the one seen before. */
  instanceId: string;
  /** Generation of the table in effect. */
  generation: number;
}

/** PUT /routes. */
export interface ApplyAnswer {
  generation: number;
  failed: ListenerFailure[];
}

/** POST /handover body: the only options a caller may set. */
export interface HandoverOptions {
  /** How long the old router drains after the successor serves (default: its --drain-timeout-ms). */
  drainTimeoutMs?: number;
}

/** POST /handover. */
export interface HandoverResult {
  oldPid: number;
  newPid: number;
  /** Generation of the table the successor serves. */
  generation: number;
  listeners: number;
}
export const ROUTES_FILE = 'routes.json';
export const FLAGS_FILE = 'flags.json';

/** PUT /flags. */
export interface FlagApplyAnswer {
  generation: number;
  /** Where OFREP listens now (absent: nowhere, e.g. its only address could not be opened). */
  listening?: string;
  /** The push's address could not be opened. */
  failed?: { listen: string; error: string };
}

/** GET /flags/usage. */
export interface FlagUsageAnswer {
  /** The router process's instanceId (RouterIdentity): a change means the counters restarted. */
  instanceId: string;
  usage: FlagUsage[];
}
