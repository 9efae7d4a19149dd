import type { RolloutEvent } from '../core/rollout.js';
import { systemClock } from '../core/clock.js';
import { redactText } from '../util/redact.js';
import { deliverJson, type DeliveryOptions, type DeliveryTarget, type WebhookResult } from './webhook.js';
import { DEFAULT_NOTIFY_EVENTS, type NotificationSpec } from '../core/hooks.js';
import { type HookContext, hookPayload } from '../core/hook-payload.js';

/** What the engine knows about the rollout when an event happens. */
export interface NotificationContext extends HookContext {
  /** Latest analysis measurements, by metric name; sent as `metrics`. */
  metricValues?: Record<string, unknown>;
  metadata?: Record<string, string>;
}

export interface NotifierOptions extends Omit<DeliveryOptions, 'signal'> {
  /** Messages waiting per destination; beyond it new ones are dropped. Default 100. */
  queueSize?: number;
  /** Retries per message (connection errors, timeouts, 5xx, 429). Default 3. */
  retries?: number;
  /** Per attempt. Default 5. */
  timeoutSeconds?: number;
  /** Told about each message that could not be delivered, for the log. */
  onFailure?: (notification: string, result: WebhookResult) => void;
}

export interface NotifierStats {
  sent: number;
  failed: number;
  dropped: number;
  /** Waiting or in flight. */
  pending: number;
}

interface Message {
  notification: string;
  target: DeliveryTarget;
  body: string;
}

/**
 * Sends rollout events to Slack and generic webhooks. `notify` only formats and
 * enqueues: it never blocks, never throws, and never lets a slow destination hold up
 * the engine. Each destination has its own bounded queue and one sender, so a dead
 * endpoint (retrying with backoff) delays only its own messages; when its queue is full,
 * new messages for it are dropped and counted.
 */
export class Notifier {
  private readonly lanes: Lane[];
  private readonly counts = { sent: 0, failed: 0, dropped: 0 };
  private readonly abort = new AbortController();

  constructor(
    specs: NotificationSpec[],
    private readonly opts: NotifierOptions = {},
  ) {
    this.lanes = specs.map((spec) => new Lane(spec, opts.queueSize ?? 100, this.counts, (m) => this.send(m)));
  }

  notify(event: RolloutEvent, context: NotificationContext): void {
    for (const lane of this.lanes) {
      if (!lane.wants(event.reason)) continue;
      if (this.abort.signal.aborted) {
        this.counts.dropped++;
        continue;
      }
      let message: Message;
      try {
        message = this.format(lane.spec, event, context);
      } catch {
        this.counts.failed++;
        continue;
      }
      lane.enqueue(message);
    }
  }

  /** Resolves true once every queue is empty and idle, false if `timeoutMs` passes first. */
  async flush(timeoutMs: number): Promise<boolean> {
    const idle = Promise.all(this.lanes.map((l) => l.idle())).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    try {
      return await Promise.race([idle, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stop: abort deliveries in flight; queued and later messages count as dropped. */
  close(): void {
    this.abort.abort();
    for (const lane of this.lanes) lane.clear();
  }

  stats(): NotifierStats {
    return { ...this.counts, pending: this.lanes.reduce((n, l) => n + l.pending(), 0) };
  }

  private format(spec: NotificationSpec, event: RolloutEvent, ctx: NotificationContext): Message {
    const target: DeliveryTarget = {
      url: spec.url,
      timeoutSeconds: this.opts.timeoutSeconds ?? 5,
      retries: this.opts.retries ?? 3,
      headers: spec.headers,
      secret: spec.secret,
      secretEnv: spec.secretEnv,
      kind: 'event',
    };
    const body =
      spec.type === 'slack'
        ? JSON.stringify(slackMessage(event, ctx))
        : JSON.stringify(
            hookPayload('event', ctx, (this.opts.clock ?? systemClock).now(), {
              metadata: ctx.metadata,
              event,
              metrics: ctx.metricValues,
            }),
          );
    return { notification: spec.name, target, body };
  }

  private async send(m: Message): Promise<void> {
    const { clock, env, retryDelayMs, maxRetryDelayMs } = this.opts;
    const r = await deliverJson(m.target, m.body, { clock, env, retryDelayMs, maxRetryDelayMs, signal: this.abort.signal });
    if (r.ok) {
      this.counts.sent++;
      return;
    }
    if (this.abort.signal.aborted) {
      this.counts.dropped++;
      return;
    }
    this.counts.failed++;
    try {
      this.opts.onFailure?.(m.notification, r);
    } catch {
      // A logging callback's failure must not stop the queue.
    }
  }
}

/** One destination's queue and its single sender. */
class Lane {
  private readonly queue: Message[] = [];
  private running = false;
  private waiters: (() => void)[] = [];
  private readonly filter: Set<string> | 'all';

  constructor(
    readonly spec: NotificationSpec,
    private readonly size: number,
    private readonly counts: { dropped: number },
    private readonly send: (m: Message) => Promise<void>,
  ) {
    const events = spec.events ?? DEFAULT_NOTIFY_EVENTS;
    this.filter = events.includes('*') ? 'all' : new Set(events.map((e) => e.toLowerCase()));
  }

  wants(reason: string): boolean {
    return this.filter === 'all' || this.filter.has(reason.toLowerCase());
  }

  enqueue(m: Message): void {
    if (this.queue.length >= this.size) {
      this.counts.dropped++;
      return;
    }
    this.queue.push(m);
    if (!this.running) void this.run();
  }

  clear(): void {
    this.counts.dropped += this.queue.length;
    this.queue.length = 0;
  }

  pending(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const m = this.queue.shift()!;
      try {
        await this.send(m);
      } catch {
        // send() already counts; this only guards the loop.
      }
    }
    this.running = false;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

const PHRASES: Record<string, [emoji: string, phrase: string]> = {
  NewRevision: [':arrow_forward:', 'rollout started'],
  StepCompleted: [':arrow_up:', 'step completed'],
  Paused: [':double_vertical_bar:', 'paused'],
  CanaryPauseStep: [':double_vertical_bar:', 'paused'],
  BlueGreenPause: [':double_vertical_bar:', 'paused before the switch'],
  Promoted: [':rocket:', 'promoted'],
  PromotedFull: [':rocket:', 'fully promoted'],
  Switched: [':rocket:', 'switched to live traffic'],
  RolloutCompleted: [':white_check_mark:', 'rollout completed'],
  RolloutAborted: [':rotating_light:', 'rollout aborted'],
  ProgressDeadlineExceeded: [':hourglass:', 'progress deadline exceeded'],
  AnalysisFailed: [':x:', 'analysis failed'],
};

/**
 * A Slack incoming-webhook message: one compact `text` line
 * (`:rocket: web: revision 3 (v2) promoted`) and an attachment with the reason, phase,
 * message and any metric values as fields.
 */
export function slackMessage(event: RolloutEvent, ctx: NotificationContext): Record<string, unknown> {
  const [emoji, phrase] = PHRASES[event.reason] ?? [event.type === 'Warning' ? ':warning:' : ':information_source:', event.reason];
  const revision = event.revision ?? ctx.revision;
  const text = `${emoji} ${esc(ctx.rollout)}: revision ${revision} (${esc(ctx.version)}) ${esc(phrase)}`;
  const failed = event.type === 'Warning' || /Abort|Fail|Exceeded/.test(event.reason);
  const paused = /Pause/.test(event.reason);
  const fields: { title: string; value: string; short: boolean }[] = [
    { title: 'Reason', value: esc(event.reason), short: true },
    { title: 'Phase', value: esc(ctx.phase), short: true },
    { title: 'Message', value: esc(redactText(event.message)), short: false },
  ];
  const metrics = Object.entries(ctx.metricValues ?? {});
  if (metrics.length > 0) {
    fields.push({ title: 'Metrics', value: esc(metrics.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ')), short: false });
  }
  return {
    text,
    attachments: [
      {
        color: failed ? 'danger' : paused ? 'warning' : 'good',
        fields,
        footer: `sluice · stable revision ${ctx.stableRevision ?? 'none'} · by ${esc(event.actor)}`,
        ts: Math.floor(event.at / 1000),
      },
    ],
  };
}

/** Slack's three control characters in message text. */
function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
