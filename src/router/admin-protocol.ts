/**
 * The builtin router's admin HTTP API (default 127.0.0.1:9901, set by --admin):
 *
 *   GET  /healthz                     200 "ok"
 *   GET  /routes                      200 RouteTable (the one in effect)
 *   PUT  /routes       body RouteTable 200 {generation} once in effect; 400 {error} if invalid;
 *                                     409 {error, generation} if older than the one in effect
 *   GET  /endpoints/:id/idle?timeoutMs=N
 *                                     200 {idle: boolean, inflight: number} as soon as no request
 *                                     is in flight to that endpoint, or after timeoutMs
 *   GET  /traffic                     200 RevisionTraffic[] (cumulative counters)
 *   GET  /metrics                     200 Prometheus text format
 *   POST /shutdown                    200, then stops listening and exits once drained
 *
 * Every route-table change is written to <state-dir>/router/routes.json (atomically) before
 * it is acknowledged, and loaded from there at start.
 */
export const DEFAULT_ROUTER_ADMIN = '127.0.0.1:9901';
export const ROUTES_FILE = 'routes.json';
