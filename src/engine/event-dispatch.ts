import { Notifier } from '../hooks/notify.js';
import { callWebhook } from '../hooks/webhook.js';
import type { Store } from '../core/store.js';
import type { Clock } from '../core/clock.js';
import type { RolloutEvent } from '../core/rollout.js';
import { type HookContext, hookPayload } from '../core/hook-payload.js';

/**
 * Sends every recorded event where the rollout asks: its notifications (Slack, generic
 * webhooks) and its `event` webhooks. Fire and forget: a slow or dead destination never
 * holds up the engine (the Notifier queues and drops; webhooks run detached).
 */
export class EventDispatcher {
  private readonly notifiers = new Map<string, { key: string; notifier: Notifier }>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly log?: (line: string) => void,
  ) {}

  dispatch(event: RolloutEvent): void {
    const record = this.store.getRollout(event.rollout);
    if (!record) return;
    const { spec, status } = record;
    const version = this.store.listRevisions(spec.name).find((r) => r.number === status.currentRevision)?.template.version ?? '';
    const context: HookContext = { rollout: spec.name, phase: status.phase, revision: status.currentRevision, stableRevision: status.stableRevision, version };
    if (spec.notifications.length > 0) {
      const key = JSON.stringify(spec.notifications);
      let entry = this.notifiers.get(spec.name);
      if (entry?.key !== key) {
        entry?.notifier.close();
        entry = {
          key,
          notifier: new Notifier(spec.notifications, { onFailure: (name, r) => this.log?.(`notification ${name} failed: ${r.error ?? r.status}`) }),
        };
        this.notifiers.set(spec.name, entry);
      }
      entry.notifier.notify(event, { ...context, metricValues: this.lastValues(spec.name) });
    }
    for (const hook of spec.hooks.webhooks.filter((h) => h.kind === 'event')) {
      void callWebhook(hook, hookPayload('event', context, this.clock.now(), { metadata: hook.metadata, event })).then((r) => {
        if (!r.ok) this.log?.(`event webhook ${hook.name} failed: ${r.error ?? r.status}`);
      });
    }
  }

  /** The latest value of each metric of the rollout's most recent analysis run, for messages. */
  private lastValues(rollout: string): Record<string, unknown> | undefined {
    const run = this.store
      .listJobs(rollout)
      .reverse()
      .find((j) => j.status.metrics?.length);
    if (!run) return undefined;
    return Object.fromEntries((run.status.metrics ?? []).map((m) => [m.name, m.last?.value ?? null]));
  }

  close(): void {
    for (const { notifier } of this.notifiers.values()) notifier.close();
  }
}
