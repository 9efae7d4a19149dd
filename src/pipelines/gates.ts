/**
 * Whether a release may enter a stage now: pure (the caller gathers approvals, the window
 * gate, sluice's own checklist answers and the clock). The one rule every path obeys — the
 * pipeline runner, restarts, and the property test in test/unit/pipelines-gates.test.ts — is
 * that a release enters only with every blocking approval standing, no standing rejection,
 * the checklist complete, the manual promote given when asked, and inside a window.
 */
import type { ApprovalRecord, ApprovalRule, ReleaseRecord, ReleaseStageState, StageSpec } from '../core/pipeline.js';

/** The window gate as window.ts answers it. */
export type WindowGate = { open: true } | { open: false; reason: 'OutsideWindow' | 'Frozen'; until?: number; message: string };

/** sluice's answer to an automatic checklist item: true, or why not. */
export type AutoCheck = true | string;

export interface GateInput {
  release: ReleaseRecord;
  stage: StageSpec;
  state: ReleaseStageState;
  /** The release's state in the stage it comes from (`stage.after`) and that stage's spec; absent for a first stage. */
  upstream?: { spec: StageSpec; state: ReleaseStageState | undefined };
  /** This release's approvals for this stage (withdrawn ones included). */
  approvals: ApprovalRecord[];
  /** Whether an approval's token still counts (not revoked, not expired); the admin token (no id) always does. */
  tokenValid(tokenId: string | undefined): boolean;
  /** sluice's answers to the stage's automatic checklist items, by `check`. */
  autoChecks: Partial<Record<NonNullable<StageSpec['checklist'][number]['check']>, AutoCheck>>;
  /** A release created after this one has entered the stage already. */
  newerEntered: boolean;
  /** Another release is deploying in this stage right now (its id). */
  busyWith?: string;
  window: WindowGate;
  now: number;
}

export type GateDecision =
  | { enter: true }
  | { enter: false; phase: 'Pending' | 'Waiting' | 'Rejected' | 'Superseded'; reason: string; message: string; until?: number };

/** Approvals and rejections that count now: not withdrawn, given with a token still valid. */
export function standing(approvals: readonly ApprovalRecord[], tokenValid: (id: string | undefined) => boolean): ApprovalRecord[] {
  return approvals.filter((a) => a.withdrawnAt === undefined && tokenValid(a.tokenId));
}

/** Per rule: the distinct users whose approval counts for it (the creator's only when the stage allows self-approval). */
export function approvalsByRule(
  stage: StageSpec,
  release: ReleaseRecord,
  counting: readonly ApprovalRecord[],
): { rule: ApprovalRule; users: string[]; met: boolean }[] {
  return stage.approvals.map((rule) => {
    const users = [
      ...new Set(
        counting.filter((a) => a.decision === 'approve' && a.role === rule.role && (stage.selfApproval || a.user !== release.createdBy)).map((a) => a.user),
      ),
    ];
    return { rule, users, met: users.length >= rule.count };
  });
}

export function decideEntry(input: GateInput): GateDecision {
  const { release, stage, state, upstream, now } = input;
  const wait = (reason: string, message: string, until?: number): GateDecision => ({
    enter: false,
    phase: 'Waiting',
    reason,
    message,
    ...(until !== undefined ? { until } : {}),
  });
  if (input.newerEntered) {
    return { enter: false, phase: 'Superseded', reason: 'Superseded', message: `a newer release entered ${stage.name} first` };
  }
  if (upstream) {
    const up = upstream.state;
    if (up?.phase !== 'Healthy' || up.healthyAt === undefined) {
      return {
        enter: false,
        phase: 'Pending',
        reason: 'UpstreamNotHealthy',
        message: `waits for ${upstream.spec.name} to be Healthy (now ${up?.phase ?? 'Pending'})`,
      };
    }
    const soakEnd = up.healthyAt + upstream.spec.requiredSoakSeconds * 1000;
    if (now < soakEnd) {
      return wait(
        'Soaking',
        `soaking in ${upstream.spec.name} until ${new Date(soakEnd).toISOString()} (requiredSoakTime ${upstream.spec.requiredSoakSeconds}s)`,
        soakEnd,
      );
    }
  }
  const counting = standing(input.approvals, input.tokenValid);
  const rejection = counting.find((a) => a.decision === 'reject');
  if (rejection) {
    return {
      enter: false,
      phase: 'Rejected',
      reason: 'Rejected',
      message: `rejected by ${rejection.user} (${rejection.role})${rejection.comment ? `: ${rejection.comment}` : ''} — withdraw the rejection or make a new release`,
    };
  }
  const missing = approvalsByRule(stage, release, counting).filter((r) => r.rule.blocking && !r.met);
  if (missing.length > 0) {
    const list = missing.map((m) => `${m.rule.role} ${m.users.length}/${m.rule.count}`).join(', ');
    return wait('WaitingForApproval', `waits for approval: ${list} — \`sluice approve ${release.id} --stage ${stage.name}\``);
  }
  const unchecked = stage.checklist.filter((item) => (item.check ? input.autoChecks[item.check] !== true : state.checked[item.name] === undefined));
  if (unchecked.length > 0) {
    const why = unchecked.map((item) => {
      const auto = item.check ? input.autoChecks[item.check] : undefined;
      return typeof auto === 'string' ? `${item.name} (${auto})` : item.name;
    });
    return wait(
      'ChecklistIncomplete',
      `checklist incomplete: ${why.join('; ')} — \`sluice release check ${release.id} --stage ${stage.name} --item NAME\` ticks an item`,
    );
  }
  if (stage.entry === 'manual' && state.promotedBy === undefined) {
    return wait('ManualEntry', `enters ${stage.name} by hand — \`sluice release promote ${release.id} --stage ${stage.name}\``);
  }
  if (input.busyWith !== undefined) return wait('StageBusy', `release ${input.busyWith} is deploying in ${stage.name}`);
  if (!input.window.open) return wait(input.window.reason, input.window.message, input.window.until);
  return { enter: true };
}
