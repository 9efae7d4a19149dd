import type { ExperimentSpec } from './experiment.js';
import type { DatabaseSpec, MigrationRef } from './database.js';
/**
 * The Rollout resource after loading: every default filled in, durations in seconds,
 * percentages resolved to `{ percent }` or `{ count }`. The engine only ever sees this
 * shape; `spec/load.ts` turns YAML into it (or fails with a positioned error).
 */

import type { AnalysisRef, PostDeployWatch } from './analysis.js';
import type { RequestMatch, Stickiness } from './route-table.js';
import type { ExecHookSpec, NotificationSpec, SmokeTestSpec, WebhookSpec } from './hooks.js';

export const API_VERSION = 'sluice.dev/v1alpha1';

/** "25%" or a plain count, as Kubernetes accepts for maxSurge / maxUnavailable. */
export type IntOrPercent = { count: number } | { percent: number };

export interface HttpGetAction {
  path: string;
  /** Defaults to the instance's $PORT. */
  port?: number;
  scheme: 'http';
  headers: Record<string, string>;
}

export interface Probe {
  httpGet?: HttpGetAction;
  tcpSocket?: { port?: number };
  exec?: { command: string[] };
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

export interface Probes {
  readiness: Probe;
  liveness?: Probe;
  startup?: Probe;
}

export interface Shutdown {
  /** Longest wait for in-flight requests to finish once the instance left the route table. */
  drainSeconds: number;
  /** Wait after draining and before SIGTERM (Kubernetes' preStop sleep). */
  preStopDelaySeconds: number;
  /** After SIGTERM, how long before SIGKILL. */
  terminationGracePeriodSeconds: number;
}

/** A key of a Kubernetes Secret in the pod's namespace (`valueFrom.secretKeyRef`). */
export interface SecretKeyRef {
  name: string;
  key: string;
  /** Kubernetes' `optional`: the pod starts without the variable when the Secret or key is missing. */
  optional?: boolean;
}

/**
 * Where a secret environment value comes from. Only the reference is stored (in the
 * spec, revisions and instance records); the local platform reads the value when it
 * starts a process (`file` or `env`), a pod gets it from a Kubernetes Secret
 * (`secretKeyRef`). A spec for both platforms gives both. `secretKeyRef` is absent when
 * unused, so references written before it keep their template hash.
 */
export type SecretRef = { file: string; secretKeyRef?: SecretKeyRef } | { env: string; secretKeyRef?: SecretKeyRef } | { secretKeyRef: SecretKeyRef };

/** Where a rollout's instances run: processes of this machine, or pods of a Kubernetes cluster. */
export type PlatformName = 'local' | 'kubernetes';
export const PLATFORMS: readonly PlatformName[] = ['local', 'kubernetes'];
/** What a rollout without `spec.platform` runs on, unless the control plane says otherwise (`defaultPlatform`). */
export const DEFAULT_PLATFORM: PlatformName = 'local';

/** The platform a rollout runs on: its own `spec.platform`, else the control plane's default. */
export function platformOf(spec: Pick<RolloutSpec, 'platform'>, defaultPlatform: PlatformName = DEFAULT_PLATFORM): PlatformName {
  return spec.platform ?? defaultPlatform;
}

/** Kubernetes' resource quantities as written (`250m`, `512Mi`, `"1"`). */
export interface ResourceQuantities {
  cpu?: string;
  memory?: string;
}

/** A container port; the first one of a container is the one sluice serves and probes. */
export interface ContainerPort {
  containerPort: number;
  name?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
}

/** A Kubernetes `envFrom` source: every key of a ConfigMap or Secret as variables. */
export type EnvFromSource = ({ configMapRef: { name: string; optional?: boolean } } | { secretRef: { name: string; optional?: boolean } }) & {
  prefix?: string;
};

/**
 * How `template.image` runs as a container on Kubernetes. Everything is optional; absent
 * fields are Kubernetes' defaults, except `ports` (one port, 8080, named http).
 */
export interface ContainerSettings {
  ports?: ContainerPort[];
  resources?: { requests?: ResourceQuantities; limits?: ResourceQuantities };
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** The container's own entrypoint and arguments (default: the image's); `template.command`/`args` are the local process's. */
  command?: string[];
  args?: string[];
  envFrom?: EnvFromSource[];
}

/**
 * A Kubernetes PodTemplateSpec, as written: sluice checks `metadata` (labels,
 * annotations) and that `spec.containers` names each container and its image; the rest
 * is passed to the cluster as is.
 */
export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: Array<{ name: string; image: string; [field: string]: unknown }>; [field: string]: unknown };
}

/** `spec.kubernetes`: where and as whom the pods run. Not part of the template (no new revision). */
export interface KubernetesSettings {
  namespace?: string;
  serviceAccountName?: string;
  nodeSelector?: Record<string, string>;
  /** Added to every pod's labels and annotations. */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** What one instance runs. A change to any of it makes a new revision. */
export interface Template {
  version: string;
  /** The local platform's program; absent on a template that only runs on Kubernetes. */
  command?: string;
  args: string[];
  env: Record<string, string>;
  /** Absent when unused, so templates written before it keep their hash (and revision). */
  secretEnv?: Record<string, SecretRef>;
  cwd?: string;
  probes: Probes;
  shutdown: Shutdown;
  /**
   * The schema this revision was built for: the migrations of `spec.database` (ids and
   * checksums) when it was applied. Absent without a database, so older templates keep
   * their hash. A changed migration set makes a new revision.
   */
  migrations?: MigrationRef[];
  /**
   * What the Kubernetes platform runs: an image (with optional container settings), or a
   * whole pod template. All absent when unused, so local templates keep their hash.
   */
  image?: string;
  container?: ContainerSettings;
  podTemplate?: PodTemplate;
}

export interface Traffic {
  /** host:port the router serves this rollout on. */
  listen: string;
  balancer: 'round-robin' | 'least-requests';
  /** Keep each user on one revision (see router/split.ts BucketSplit for the rule). */
  sticky?: Stickiness;
  /** Match rules tried in order before the split, while a release is in progress. */
  routes: TrafficRoute[];
  /** Served by `sluice stop-traffic`, after a `pause-traffic` times out, and by recreate's gap. */
  maintenance?: Maintenance;
  /** Passive outlier ejection: take an instance that keeps failing out of rotation for a while. */
  outlierDetection?: { consecutiveErrors: number; baseEjectionSeconds: number; maxEjectionPercent: number };
  /** Circuit breaking: requests in flight per instance, and a bounded wait beyond it. */
  connectionLimits?: { maxConnections: number; maxPending: number; queueTimeoutSeconds: number };
  /** Upstream timeouts (defaults: the router's, 60 s for a response). */
  timeouts?: { connectSeconds?: number; responseSeconds?: number };
  /** Read a request's whole body before choosing an instance (slow uploads never pin a draining one). */
  bufferRequests?: { maxBytes: number };
  /**
   * The data plane serving this rollout's listeners, by its name in src/dataplane/registry.ts
   * (`nginx`); absent: the builtin router.
   */
  router?: string;
  /** That data plane's settings (written `traffic.<name>`), decoded by the plane's own schema; opaque here. */
  dataPlaneSettings?: unknown;
}

export interface Maintenance {
  status: number;
  body: string;
  retryAfterSeconds: number;
}

/**
 * Where matching requests go: a target (`canary` = the revision being released, `stable`,
 * or an A/B variant's name), or a weighted split between targets summing to 100.
 */
export type RouteTarget = string | Record<string, number>;

/** Requests matching `match` go to `to`: the revision being released (canary / preview) or stable. */
export interface TrafficRoute {
  name: string;
  match: {
    header?: { name: string; exact?: string; prefix?: string; regex?: string };
    cookie?: { name: string; exact?: string; regex?: string };
    query?: { name: string; exact?: string; regex?: string };
    pathPrefix?: string;
    source?: string;
  };
  to: RouteTarget;
}

export interface RecreateStrategy {
  type: 'recreate';
  /** Defaults to `traffic.maintenance`. */
  maintenance: Maintenance;
  /** Watch the new revision after it took over; roll back on the thresholds. */
  postDeploy?: PostDeployWatch;
}

export interface RollingStrategy {
  type: 'rolling';
  maxSurge: IntOrPercent;
  maxUnavailable: IntOrPercent;
  /** Wait between batches, after each batch became available. 0 = no pause. */
  pauseSeconds: number;
  /** Watch the new revision after it took over; roll back on the thresholds. */
  postDeploy?: PostDeployWatch;
}

export interface BlueGreenStrategy {
  type: 'blueGreen';
  /** host:port reaching only the new (preview) revision. */
  previewListen?: string;
  autoPromotionEnabled: boolean;
  autoPromotionSeconds: number;
  previewReplicaCount?: number;
  scaleDownDelaySeconds: number;
  /** Must succeed (against the preview) before the switch. */
  prePromotionAnalysis?: AnalysisRef;
  /** Runs after the switch; failure switches back to the old revision. */
  postPromotionAnalysis?: AnalysisRef;
}

export type CanaryStep =
  | { setWeight: number }
  | { pause: { duration?: number } }
  | { setCanaryScale: { replicas?: number; weight?: number; matchTrafficWeight?: boolean } }
  | { analysis: AnalysisRef }
  /** Waits for `sluice approve NAME`; the approver and time are recorded. */
  | { approval: Record<string, never> }
  /** Argo's header route: requests matching go to the canary whatever the weight; without `match` it is removed. */
  | { setHeaderRoute: { name: string; match?: HeaderMatch } }
  /** Argo's mirror route: copies of matching requests go to the canary; without `match` it is removed. */
  | { setMirrorRoute: MirrorRouteSpec }
  /** Sets a FeatureFlag's percentage (its `enable` sugar) as the release reaches this step; see core/flags.ts. */
  | { setFlag: { flag: string; percentage: number } };

/** A mirror route as the spec writes it (setMirrorRoute step, shadow strategy). */
export interface MirrorRouteSpec {
  name: string;
  /** Share of matching requests copied, 1..100. */
  percentage: number;
  /** Conditions; methods default to GET, HEAD, OPTIONS. Absent on a step: remove the route. */
  match?: RequestMatch;
  /** Compare the copy's response with the primary's, ignoring these JSON paths. */
  compare?: { ignorePaths: string[] };
  queueLimit: number;
  maxBodyBytes: number;
}

/** One header condition; exactly one of exact / prefix / regex (regex matches the whole value). */
export interface HeaderMatch {
  headerName: string;
  headerValue: { exact?: string; prefix?: string; regex?: string };
}

export interface CanaryStrategy {
  type: 'canary';
  steps: CanaryStep[];
  /** host:port reaching only the canary revision, for direct testing. */
  canaryListen?: string;
  maxSurge: IntOrPercent;
  maxUnavailable: IntOrPercent;
  /** Background analysis for the whole release, from step `startingStep` on. */
  analysis?: AnalysisRef & { startingStep: number };
  /** Set when steps and analysis were expanded from Flagger's shorthand. */
  expandedFrom?: 'flagger';
}

/**
 * Shadow release: the new revision gets copies of live requests (the client always gets
 * stable's answer), its answers are compared with stable's, and after `durationSeconds`
 * without a failed analysis (or on `sluice promote` when no duration is set) it takes over.
 */
export interface ShadowStrategy {
  type: 'shadow';
  mirror: MirrorRouteSpec & { match: RequestMatch };
  /** Instances of the shadow revision while it shadows (default: replicas). */
  shadowReplicas?: number;
  /** Shadow this long, then promote; absent: wait for `sluice promote`. */
  durationSeconds?: number;
  /** Runs while shadowing (e.g. builtin mismatch-rate of the shadow revision). Failing aborts. */
  analysis?: AnalysisRef;
  /** A finite analysis that passed (on a metric that is not dry-run) switches traffic; absent/false: it never does. */
  promoteOnAnalysisSuccess?: boolean;
}

/** One arm of an A/B test. From the third on, a variant is this template with overrides. */
export interface Variant {
  name: string;
  weight: number;
  /** Third and later variants: what differs from the template (their own revision). */
  overrides?: { version: string; env: Record<string, string>; args?: string[] };
}

/**
 * A/B test: the stable revision (first variant, the control), the new template (second
 * variant) and any further variants (the template with overrides) serve side by side by weight, users stick to their variant, every
 * response names its variant, exposures are counted per variant. Runs until `sluice
 * promote NAME --variant X` or abort.
 */
export interface AbTestStrategy {
  type: 'abTest';
  /** The stable revision (control), this template, then any variants with overrides. */
  variants: Variant[];
  /** Response header naming the variant (default x-sluice-variant). */
  variantHeader: string;
  /** Instances of the new variant (default: in proportion to its weight, at least 1). */
  replicas?: number;
  /** Runs during the test; failing aborts it. */
  analysis?: AnalysisRef;
  /** Metrics and conclusion settings: the test becomes an experiment with statistics (src/core/experiment.ts). */
  experiment?: ExperimentSpec;
}

export type Strategy = RecreateStrategy | RollingStrategy | BlueGreenStrategy | CanaryStrategy | ShadowStrategy | AbTestStrategy;
export type StrategyType = Strategy['type'];

export interface RolloutSpec {
  name: string;
  labels: Record<string, string>;
  /** `metadata.environment` (issue 15): the environment (core/pipeline.ts) this rollout belongs to; none when absent. */
  environment?: string;
  /** `metadata.service`: the service a Pipeline's releases name; the rollout's name when absent. */
  service?: string;
  replicas: number;
  minReadySeconds: number;
  revisionHistoryLimit: number;
  progressDeadlineSeconds: number;
  template: Template;
  traffic: Traffic;
  strategy: Strategy;
  /** Webhooks and exec hooks by kind (Flagger's kinds); see core/hooks.ts. */
  hooks: { webhooks: WebhookSpec[]; exec: ExecHookSpec[] };
  /** HTTP checks run before the new revision gets live traffic. */
  smokeTests: SmokeTestSpec[];
  notifications: NotificationSpec[];
  /** Feature flags tied to the release: `killOnAbort` flags are switched off when it aborts (core/flags.ts). */
  flags?: { killOnAbort: string[] };
  /** Database migrations that move with the release (core/database.ts). */
  database?: DatabaseSpec;
  /** `spec.platform` as written; absent: the control plane's default (`platformOf`). */
  platform?: PlatformName;
  /** `spec.kubernetes`: pod placement and metadata, for the Kubernetes platform. */
  kubernetes?: KubernetesSettings;
}

/** Where a loaded document came from, so later errors can point at it. */
export interface SpecSource {
  file: string;
  line: number;
}
