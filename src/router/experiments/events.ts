/**
 * POST /experiments/v1/events on the data plane's client API (the OFREP server, same client
 * tokens; src/flags/ofrep.ts admits the request): the app reports what the router cannot see
 * (a purchase and its amount, a pre-experiment value for CUPED).
 *
 * Body: JSON lines, one object per line — {"user", "event", "value"?, "time"?, "pre"?,
 * "rollout"?} — or a JSON array of them with Content-Type application/json. At most
 * EVENTS_BODY_LIMIT bytes (413) and EVENTS_MAX_LINES lines. Each line goes to every live
 * experiment whose `events` lists its event (only `rollout`'s when given), as a conversion of
 * the user's assigned variant (the same hash as the request path), and only for a user the
 * router has exposed in that test. Answer: {accepted, rejected: [{line, error}]}, 200 when
 * at least one line was accepted (every valid line of a batch is kept), else 400.
 */
import type http from 'node:http';
import { readBoundedBody } from '../../http/body.js';
import type { ExperimentPlane, LiveExperiment } from './plane.js';
import { MAX_USER_LENGTH } from './types.js';

export { MAX_USER_LENGTH };

export const EVENTS_PATH = '/experiments/v1/events';
export const EVENTS_BODY_LIMIT = 1024 * 1024;
export const EVENTS_MAX_LINES = 10_000;
/** How far in the future an event's time may be (clock skew). */
export const EVENTS_FUTURE_MS = 5 * 60_000;
/** Past this much of an over-long body the connection is cut instead of drained. */
const DRAIN_LIMIT = 16 * 1024 * 1024;

export interface EventsAnswer {
  accepted: number;
  rejected: { line: number; error: string }[];
}

const EXAMPLE = '{"user":"u-1","event":"purchase","value":12.5}';

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'access-control-allow-origin': '*',
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** The request handler, for an already admitted (token-checked) request. */
export function eventsHandler(plane: ExperimentPlane, now: () => number = Date.now): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    req.on('error', () => res.destroy());
    readBoundedBody(req, EVENTS_BODY_LIMIT, {
      tooLarge: () => {
        // Answered once the client has sent it all (up to DRAIN_LIMIT, then cut): a client
        // still writing would see its connection reset instead of the 413.
        let drained = 0;
        req.removeAllListeners('data');
        req.removeAllListeners('end');
        req.on('data', (c: Buffer) => {
          drained += c.length;
          if (drained > DRAIN_LIMIT) req.destroy();
        });
        req.on('end', () =>
          send(
            res,
            413,
            {
              error: `events: the body is larger than ${EVENTS_BODY_LIMIT} bytes (1 MiB); split the batch into several POSTs of at most 1 MiB and ${EVENTS_MAX_LINES} lines`,
            },
            { connection: 'close' },
          ),
        );
        req.resume();
      },
      done: (body) => {
        const answer = ingest(plane, body.toString('utf8'), String(req.headers['content-type'] ?? ''), now());
        if (typeof answer === 'string') send(res, answer.startsWith('413') ? 413 : 400, { error: answer.slice(4) });
        else send(res, answer.accepted > 0 ? 200 : 400, answer);
      },
    });
  };
}

/** Takes a batch: the answer, or `"<status> <error>"` for a batch refused as a whole. */
export function ingest(plane: ExperimentPlane, text: string, contentType: string, at: number): EventsAnswer | string {
  let items: { line: number; raw: unknown; parseError?: string }[];
  const trimmed = text.trimStart();
  if (/^application\/json\b/i.test(contentType) && trimmed.startsWith('[')) {
    let arr: unknown;
    try {
      arr = JSON.parse(text);
    } catch (e) {
      return `400 events: the body is not a JSON array (${(e as Error).message}); send a JSON array of events, or one JSON object per line (${EXAMPLE})`;
    }
    if (!Array.isArray(arr)) return '400 events: the body must be a JSON array of events';
    if (arr.length > EVENTS_MAX_LINES) return `413 events: ${arr.length} events in one batch, at most ${EVENTS_MAX_LINES}; split the batch`;
    items = arr.map((raw, i) => ({ line: i + 1, raw }));
  } else {
    items = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i].trim();
      if (l === '') continue;
      if (items.length === EVENTS_MAX_LINES) return `413 events: more than ${EVENTS_MAX_LINES} lines in one batch; split the batch`;
      try {
        items.push({ line: i + 1, raw: JSON.parse(l) });
      } catch (e) {
        items.push({ line: i + 1, raw: undefined, parseError: `not JSON (${(e as Error).message}); send one JSON object per line, e.g. ${EXAMPLE}` });
      }
    }
    if (items.length === 0) return `400 events: the body has no events; send one JSON object per line, e.g. ${EXAMPLE}`;
  }
  const answer: EventsAnswer = { accepted: 0, rejected: [] };
  const live = plane.experiments;
  for (const item of items) {
    const error = item.parseError ?? take(plane, live, item.raw, at);
    if (error === undefined) answer.accepted++;
    else answer.rejected.push({ line: item.line, error });
  }
  return answer;
}

/** Journals one event; its error (one line) when it is refused. */
function take(plane: ExperimentPlane, live: readonly LiveExperiment[], raw: unknown, now: number): string | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return `must be a JSON object, e.g. ${EXAMPLE}`;
  const e = raw as Record<string, unknown>;
  const user = e.user;
  if (typeof user !== 'string' || user === '') return `"user" is missing or empty; send the user key the router assigns by (its header, cookie or sluice id)`;
  if (user.length > MAX_USER_LENGTH) return `"user" is ${user.length} characters, at most ${MAX_USER_LENGTH}; send the user key the router assigns by`;
  const event = e.event;
  if (typeof event !== 'string' || event === '') return `"event" is missing or empty; send the event name a metric of the test lists`;
  const rollout = e.rollout;
  if (rollout !== undefined && (typeof rollout !== 'string' || rollout === '')) return `"rollout" must be a rollout name (or left out)`;
  const value = e.value;
  if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value)))
    return `"value" ${JSON.stringify(value)?.slice(0, 40)} is not a finite number; send a number such as 12.5`;
  let time = now;
  if (e.time !== undefined) {
    const t = typeof e.time === 'number' ? e.time : typeof e.time === 'string' ? Date.parse(e.time) : Number.NaN;
    if (!Number.isFinite(t) || t < 0)
      return `"time" ${JSON.stringify(e.time)?.slice(0, 40)} is not a time; send epoch milliseconds or an ISO 8601 string, or leave it out for now`;
    if (t > now + EVENTS_FUTURE_MS) return `"time" ${JSON.stringify(e.time)?.slice(0, 40)} is more than 5 minutes in the future; check the sender's clock`;
    time = t;
  }
  if (e.pre !== undefined && typeof e.pre !== 'boolean') return `"pre" must be true or false (or left out)`;
  let targets = 0;
  let refused: string | undefined;
  let accepted = 0;
  for (const exp of live) {
    const m = exp.events.get(event);
    if (m === undefined || (rollout !== undefined && exp.rollout !== rollout)) continue;
    targets++;
    let v = value as number | undefined;
    if (v === undefined) {
      if (m.kind === 'continuous') {
        refused ??= `"value" is required: event "${event}" feeds the continuous metric ${m.metric} of ${exp.rollout}'s test`;
        continue;
      }
      v = 1;
    }
    if (v < 0 && !m.allowNegative) {
      refused ??= `"value" ${v} is negative, and metric ${m.metric} of ${exp.rollout}'s test does not allow negative values`;
      continue;
    }
    if (!plane.isExposed(exp, user)) {
      refused ??= `user ${JSON.stringify(user.slice(0, 80))} has not been served by ${exp.rollout}'s test; events count only for users the router assigned`;
      continue;
    }
    plane.convert(exp, user, plane.variantOf(exp, user), m.metric, v, 'event', time, e.pre === true);
    accepted++;
  }
  if (targets === 0)
    return `unknown event ${JSON.stringify(event.slice(0, 80))}: no live test${rollout === undefined ? '' : ` of rollout ${JSON.stringify(rollout)}`} takes it; send an event a test's metric lists`;
  return accepted > 0 ? undefined : refused;
}
