/**
 * Environments, pipelines and releases (issue 15). An environment is a named set of rollouts
 * (`metadata.environment` on each); a pipeline orders stages, each deploying to one
 * environment; a release (immutable, Kargo's "freight") is a version of the pipeline's
 * services that travels through the stages as far as their gates allow.
 */

/** `kind: Environment`: what every rollout in it shares. */
export interface EnvironmentSpec {
  name: string;
  description?: string;
  /** Added to the template env of every rollout in this environment at apply (the rollout's own values win). */
  env: Record<string, string>;
}

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
export const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** A recurring deployment window: on these days, from `start` to `end` (HH:MM, local to `timeZone`; end before start spans midnight). */
export interface DeploymentWindow {
  days: Weekday[];
  start: string;
  end: string;
  /** IANA name, e.g. Europe/Madrid. */
  timeZone: string;
}

/** No deployment from `from` to `to` (inclusive dates YYYY-MM-DD, local to `timeZone`). */
export interface Freeze {
  from: string;
  to: string;
  timeZone: string;
  reason?: string;
}

/**
 * A pre-deploy checklist item. With `check`, sluice decides it from what it knows:
 * `database-backup` (every service with spec.database takes a backup before its expand phase),
 * `rollback-plan` (every service's rollout in the environment has a stable revision to go back to, or is new),
 * `analysis` (every service's rollout measures its release: analysis or a post-deploy watch),
 * `smoke-tests` (every service's rollout has smoke tests). Without `check`, a person ticks it
 * (`sluice release check RELEASE --stage S --item NAME`).
 */
export interface ChecklistItem {
  name: string;
  check?: 'database-backup' | 'rollback-plan' | 'analysis' | 'smoke-tests';
}

export interface ApprovalRule {
  /** The approver role: a token with `approver:<role>` gives it. */
  role: string;
  /** How many distinct users of that role must approve (default 1). */
  count: number;
  /** A blocking approval is required; a non-blocking one is recorded and shown, never waited for. */
  blocking: boolean;
}

export interface StageSpec {
  name: string;
  environment: string;
  /** The stage a release comes from (a release enters this one after being Healthy there); the previous stage in the list by default, none for the first. */
  after?: string;
  /**
   * `auto`: the release enters as soon as the gates pass (the first stage: at `release create`;
   * later ones: once the previous stage has been Healthy for its `requiredSoakSeconds`).
   * `manual`: also needs `sluice release promote RELEASE --stage S` by a deployer.
   */
  entry: 'auto' | 'manual';
  /** How long the release must stay Healthy in this stage before the next may take it. */
  requiredSoakSeconds: number;
  /** Who must approve before the release enters this stage. */
  approvals: ApprovalRule[];
  /** Whether the user who created the release may approve its entry here (default false when approvals are asked). */
  selfApproval: boolean;
  /** When set, the release enters only inside one of them. */
  windows: DeploymentWindow[];
  freezes: Freeze[];
  checklist: ChecklistItem[];
}

/** `kind: Pipeline`. */
export interface PipelineSpec {
  name: string;
  /** The services a release carries, in deploy order (a rollout's `metadata.service`, its name by default). */
  services: string[];
  stages: StageSpec[];
}

/** One service's part of a release: what its rollout in each environment is set to. */
export interface ReleaseService {
  service: string;
  version: string;
  /** Env changes applied with the version (null removes a variable). */
  env: Record<string, string | null>;
}

/** An immutable release. Its id is its version (unique in a state directory). */
export interface ReleaseRecord {
  id: string;
  pipeline: string;
  version: string;
  commit: string;
  /** When the commit was made (ms): lead time counts from here; createdAt when unknown. */
  commitAt?: number;
  notes: string;
  services: ReleaseService[];
  createdBy: string;
  createdAt: number;
  /** The release this one fixes: that one counts as a failed change (DORA). */
  hotfixOf?: string;
}

export type StagePhase =
  /** Not yet asked to enter (an earlier stage is not done). */
  | 'Pending'
  /** Asked to enter; a gate holds it (reason, message, and `until` when a time will open it). */
  | 'Waiting'
  /** Its services are being set, in order. */
  | 'Deploying'
  | 'Healthy'
  /** A service's rollout aborted (rolled back) or degraded. */
  | 'Failed'
  /** A newer release entered this stage first. */
  | 'Superseded'
  /** An approver rejected it for this stage. */
  | 'Rejected';

/** Where one release is in one stage. Persisted; the pipeline runner is its only writer. */
export interface ReleaseStageState {
  release: string;
  stage: string;
  phase: StagePhase;
  /** CamelCase, e.g. WaitingForApproval, OutsideWindow, Frozen, Soaking, ManualEntry, ChecklistIncomplete. */
  reason: string;
  message: string;
  /** When a waiting release's gate opens by itself (window start, soak end), ms. */
  until?: number;
  /** Who made it enter: the user of `release promote`, or `sluice` for auto entry. */
  enteredBy?: string;
  enteredAt?: number;
  /** Index into the release's services of the one being deployed. */
  serviceIndex: number;
  /** Per service: its rollout in the stage's environment and the revision this release made there. */
  deployed: Record<string, { rollout: string; revision: number }>;
  healthyAt?: number;
  failedAt?: number;
  /** After a failure: when the environment was Healthy again (on the rolled-back version). */
  restoredAt?: number;
  /** `release promote --stage S` was asked (manual entry). */
  promotedBy?: string;
  /** Manual checklist items ticked: item → who and when. */
  checked: Record<string, { by: string; at: number }>;
  updatedAt: number;
}

/** An approval or a rejection; withdrawn ones stay recorded. */
export interface ApprovalRecord {
  id: number;
  release: string;
  stage: string;
  role: string;
  user: string;
  /** The named token it was given with (approvals by a token later revoked stop counting); absent for the admin token. */
  tokenId?: string;
  decision: 'approve' | 'reject';
  comment?: string;
  at: number;
  withdrawnAt?: number;
}

export type ApprovalDraft = Omit<ApprovalRecord, 'id'>;

/** An event of a release (entry, wait, approval, health, failure): the deployment log and reports read these. */
export interface ReleaseEvent {
  id: number;
  release: string;
  stage?: string;
  at: number;
  actor: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export type ReleaseEventDraft = Omit<ReleaseEvent, 'id' | 'release' | 'at' | 'actor'>;

export interface PipelineRecord {
  name: string;
  spec: PipelineSpec;
  source: string;
}

export interface EnvironmentRecord {
  name: string;
  spec: EnvironmentSpec;
  source: string;
}

/** Persistence of pipelines, releases, their stage states, approvals and events (both stores: core/store.ts). */
export interface PipelineStore {
  listEnvironments(): EnvironmentRecord[];
  putEnvironment(e: EnvironmentRecord): void;
  listPipelines(): PipelineRecord[];
  putPipeline(p: PipelineRecord): void;
  deletePipeline(name: string): void;

  /** Refuses (throws) an id already stored: releases are immutable. */
  addRelease(r: ReleaseRecord): void;
  getRelease(id: string): ReleaseRecord | undefined;
  /** Oldest first. */
  listReleases(pipeline?: string): ReleaseRecord[];

  listStageStates(release?: string): ReleaseStageState[];
  putStageState(s: ReleaseStageState): void;

  addApproval(a: ApprovalDraft): ApprovalRecord;
  withdrawApproval(id: number, at: number): void;
  listApprovals(release?: string): ApprovalRecord[];

  appendReleaseEvent(release: string, e: ReleaseEventDraft, actor: string, at: number): ReleaseEvent;
  listReleaseEvents(release?: string): ReleaseEvent[];
}
