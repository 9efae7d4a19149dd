import type { ListenerFailure } from '../core/traffic-router.js';
import type { ListenerProblem, RolloutEventDraft, RolloutStatus } from '../core/rollout.js';
import { UNPLANNABLE } from './plan-guard.js';

/**
 * Problems the engine itself shows in a rollout's phase/reason/message (Degraded) over what
 * the release says: a stored spec it cannot plan, listeners the data plane cannot open. The
 * release's own phase is kept in `releasePhase`, so planners never see the overlay and do
 * not report a phase change on every pass.
 */

export const LISTENER_FAILED = 'ListenerFailed';
const ENGINE_REASONS = new Set([UNPLANNABLE, LISTENER_FAILED]);

/**
 * The status as planners know it: without the engine's overlay. A user action that set
 * a phase of its own meanwhile (abort, a new revision) wins over the kept one.
 */
export function releaseStatus(status: RolloutStatus): RolloutStatus {
  const { releasePhase, ...rest } = status;
  return releasePhase && ENGINE_REASONS.has(status.reason) ? { ...rest, ...releasePhase } : rest;
}

/** Shows `reason`/`message` as Degraded over the release's own phase. */
export function showProblem(status: RolloutStatus, reason: string, message: string): RolloutStatus {
  const own = releaseStatus(status);
  return { ...own, phase: 'Degraded', reason, message, releasePhase: { phase: own.phase, reason: own.reason, message: own.message } };
}

/**
 * The planned status with the rollout's listener failures of the last apply shown over it,
 * and the event for a change of that set (one per change, not one per retry).
 */
export function withListenerFailures(
  planned: RolloutStatus,
  previous: RolloutStatus,
  failures: ListenerFailure[],
  retryEverySeconds: number,
): { status: RolloutStatus; event?: RolloutEventDraft } {
  const problems: ListenerProblem[] = failures.map(({ listen, role, error }) => ({ listen, role, error }));
  const { listenerFailures: _drop, ...rest } = releaseStatus(planned);
  const key = (ps: ListenerProblem[] | undefined) => JSON.stringify((ps ?? []).map((p) => [p.listen, p.error]));
  const changed = key(problems) !== key(previous.listenerFailures);
  if (problems.length === 0) {
    const event: RolloutEventDraft | undefined = changed
      ? { type: 'Normal', reason: 'ListenerOpened', message: `every listener is open again (${previous.listenerFailures!.map((p) => p.listen).join(', ')})` }
      : undefined;
    return { status: rest, ...(event ? { event } : {}) };
  }
  const what = problems.map((p) => `listener ${p.listen} could not be opened: ${p.error}`).join('; ');
  const message = `${what} — free the address or give the rollout another one and \`sluice apply\` it (tried again every ${retryEverySeconds}s)`;
  const status = { ...showProblem(rest, LISTENER_FAILED, message), listenerFailures: problems };
  return { status, ...(changed ? { event: { type: 'Warning' as const, reason: LISTENER_FAILED, message } } : {}) };
}
