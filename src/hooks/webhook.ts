import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { systemClock, type Clock } from '../core/clock.js';
import { UserError } from '../util/errors.js';
import { HttpFailure, httpExchange, sleep, snippet } from './http.js';
import type { WebhookSpec } from '../core/hooks.js';
import type { HookPayload } from '../core/hook-payload.js';

/*
 * Signing. When a hook has a secret, every request carries
 *
 *   X-Sluice-Timestamp: <unix time in whole seconds>
 *   X-Sluice-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 *
 * (Stripe's scheme). The timestamp is inside the signed content so a captured request
 * cannot be replayed later: receivers recompute the HMAC over the body bytes exactly as
 * received (not re-serialised JSON), compare in constant time, and refuse timestamps more
 * than 5 minutes from their clock. `verifySignature` does all three. Retries are signed
 * afresh with a new timestamp; X-Sluice-Delivery (a UUID, the same on every attempt of
 * one call) lets receivers drop duplicates.
 *
 * Errors never contain the URL: Slack-style URLs are secrets themselves.
 */

export const SIGNATURE_HEADER = 'X-Sluice-Signature';
export const TIMESTAMP_HEADER = 'X-Sluice-Timestamp';
export const DELIVERY_HEADER = 'X-Sluice-Delivery';
export const KIND_HEADER = 'X-Sluice-Hook';

/** `sha256=<hex>` for a body sent at `timestamp` (unix seconds). */
export function signBody(secret: string, timestamp: number | string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

/**
 * Whether `header` (X-Sluice-Signature) is the signature of `body` at `timestamp`
 * (X-Sluice-Timestamp) under `secret`, and the timestamp is within `toleranceSeconds`
 * (default 300) of `nowMs` (default the system clock). Pass `toleranceSeconds: Infinity`
 * to check the signature alone.
 */
export function verifySignature(
  secret: string,
  timestamp: string | number | undefined,
  body: string | Buffer,
  header: string | undefined,
  opts: { toleranceSeconds?: number; nowMs?: number } = {},
): boolean {
  if (timestamp === undefined || header === undefined) return false;
  const ts = String(timestamp);
  if (!/^\d{1,15}$/.test(ts)) return false;
  const tolerance = opts.toleranceSeconds ?? 300;
  if (Math.abs((opts.nowMs ?? Date.now()) / 1000 - Number(ts)) > tolerance) return false;
  const expected = Buffer.from(signBody(secret, ts, body));
  const given = Buffer.from(header.trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export interface WebhookResult {
  /** A 2xx answer. */
  ok: boolean;
  /** The last answer's status, when there was one. */
  status?: number;
  /** Requests made (0 when the hook was unusable, see `webhookProblem`). */
  attempts: number;
  /** One line: "HTTP 400 Bad Request: <body>", "no answer within 10s", "cannot connect to …". */
  error?: string;
  /** First 200 bytes of a non-2xx answer's body. */
  body?: string;
  durationMs: number;
}

export interface DeliveryOptions {
  signal?: AbortSignal;
  /** Timestamps, backoff and timeouts. Default the system clock. */
  clock?: Clock;
  /** Where `secretEnv` is looked up. Default process.env. */
  env?: Record<string, string | undefined>;
  /** First backoff; each retry doubles it. Default 500. */
  retryDelayMs?: number;
  /** Backoff cap, also for Retry-After. Default 8000. */
  maxRetryDelayMs?: number;
}

/** What `deliverJson` needs: the transport part of a WebhookSpec or NotificationSpec. */
export interface DeliveryTarget {
  url: string;
  timeoutSeconds: number;
  retries: number;
  headers?: Record<string, string>;
  secret?: string;
  secretEnv?: string;
  /** Sent as X-Sluice-Hook. */
  kind?: string;
}

const BODY_SNIPPET_BYTES = 200;

/**
 * Why this target cannot be called at all (a bad URL, a secretEnv that is unset), or
 * undefined. Retrying does not help with these, so gates reject instead of polling.
 */
export function webhookProblem(t: Pick<DeliveryTarget, 'url' | 'secretEnv'>, env: Record<string, string | undefined> = process.env): string | undefined {
  let url: URL;
  try {
    url = new URL(t.url);
  } catch {
    return 'url is not a valid URL; write it as http(s)://host[:port]/path';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `url must be http:// or https://, not ${url.protocol}//`;
  if (t.secretEnv !== undefined && !env[t.secretEnv]) return `secretEnv ${t.secretEnv} is not set in sluice's environment; set it or remove secretEnv`;
  return undefined;
}

/** Backoff before retry number `retry` (1-based): initial, 2×, 4×… capped. */
export function backoffDelay(retry: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** (retry - 1));
}

/**
 * POST the payload as JSON, signed when the spec has a secret, retrying connection
 * errors, timeouts, 5xx and 429 up to `spec.retries` times with exponential backoff.
 * Other answers are final: 2xx is ok, anything else (3xx included; redirects are not
 * followed) is `ok: false`. Never throws.
 */
export function callWebhook(spec: WebhookSpec, payload: HookPayload, opts: DeliveryOptions = {}): Promise<WebhookResult> {
  return deliverJson(spec, JSON.stringify(payload), opts);
}

/** `callWebhook` for any JSON body (notifications use it for Slack messages). Never throws. */
export async function deliverJson(target: DeliveryTarget, body: string, opts: DeliveryOptions = {}): Promise<WebhookResult> {
  const clock = opts.clock ?? systemClock;
  const env = opts.env ?? process.env;
  const start = clock.now();
  const problem = webhookProblem(target, env);
  if (problem !== undefined) return { ok: false, attempts: 0, error: problem, durationMs: 0 };
  const secret = target.secret ?? (target.secretEnv !== undefined ? env[target.secretEnv] : undefined);
  const delivery = randomUUID();
  const initialDelay = opts.retryDelayMs ?? 500;
  const maxDelay = opts.maxRetryDelayMs ?? 8000;
  let attempts = 0;
  for (;;) {
    attempts++;
    const timestamp = Math.floor(clock.now() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'sluice-hooks',
      ...target.headers,
      [TIMESTAMP_HEADER]: String(timestamp),
      [DELIVERY_HEADER]: delivery,
    };
    if (target.kind !== undefined) headers[KIND_HEADER] = target.kind;
    if (secret !== undefined) headers[SIGNATURE_HEADER] = signBody(secret, timestamp, body);
    let result: WebhookResult;
    let retryable: boolean;
    let retryAfterMs: number | undefined;
    try {
      const a = await httpExchange({
        method: 'POST',
        url: target.url,
        headers,
        body,
        timeoutMs: target.timeoutSeconds * 1000,
        signal: opts.signal,
        clock,
        maxBodyBytes: BODY_SNIPPET_BYTES,
      });
      if (a.status >= 200 && a.status < 300) return { ok: true, status: a.status, attempts, durationMs: clock.now() - start };
      const text = a.body.toString('utf8');
      const reason = STATUS_CODES[a.status] ?? '';
      result = {
        ok: false,
        status: a.status,
        attempts,
        error: `HTTP ${a.status}${reason ? ` ${reason}` : ''}${text ? `: ${snippet(text, BODY_SNIPPET_BYTES)}` : ''}`,
        body: text,
        durationMs: 0,
      };
      retryable = a.status >= 500 || a.status === 429;
      retryAfterMs = parseRetryAfter(a.headers['retry-after']);
    } catch (e) {
      if (!(e instanceof HttpFailure)) throw e;
      result = { ok: false, attempts, error: e.message, durationMs: 0 };
      retryable = e.kind === 'connect' || e.kind === 'timeout' || e.kind === 'network';
    }
    if (retryable && attempts <= target.retries && !opts.signal?.aborted) {
      await sleep(Math.min(maxDelay, Math.max(backoffDelay(attempts, initialDelay, maxDelay), retryAfterMs ?? 0)), clock, opts.signal);
      if (!opts.signal?.aborted) continue;
    }
    if (opts.signal?.aborted && result.error !== 'aborted') result.error = `aborted; last attempt: ${result.error}`;
    return { ...result, durationMs: clock.now() - start };
  }
}

function parseRetryAfter(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v.trim()) * 1000;
}

export interface GateOptions extends DeliveryOptions {
  /** Pause between calls. Default 5000. */
  intervalMs?: number;
  /** Told about every call that did not open the gate, e.g. to show "waiting: HTTP 403". */
  onAttempt?: (result: WebhookResult, calls: number) => void;
}

/**
 * Call a gate (`confirm-*`) until it answers 2xx, one request per interval (no retries
 * inside a call: the polling is the retry). Resolves with the opening answer, `attempts`
 * counting every call. Rejects with the signal's reason when aborted, and with a
 * UserError at once when the hook cannot work at all (see `webhookProblem`).
 */
export async function pollGate(spec: WebhookSpec, payload: HookPayload, opts: GateOptions = {}): Promise<WebhookResult> {
  const clock = opts.clock ?? systemClock;
  const problem = webhookProblem(spec, opts.env);
  if (problem !== undefined) throw new UserError(`webhook ${spec.name} (${spec.kind}): ${problem}`);
  const start = clock.now();
  let calls = 0;
  for (;;) {
    opts.signal?.throwIfAborted();
    const r = await callWebhook({ ...spec, retries: 0 }, payload, opts);
    calls++;
    opts.signal?.throwIfAborted();
    if (r.ok) return { ...r, attempts: calls, durationMs: clock.now() - start };
    opts.onAttempt?.(r, calls);
    await sleep(opts.intervalMs ?? 5000, clock, opts.signal);
  }
}
