/**
 * Analysis: measuring a release and judging it. An AnalysisTemplate lists metrics; each
 * metric asks one provider for a value every `interval`, and conditions over `result`
 * turn each value into a measurement phase. The run's verdict follows Argo Rollouts:
 * Failed beats Error beats Inconclusive beats Successful.
 */

/** Where a provider looks, filled by the engine for each run. */
export interface MeasurementContext {
  rollout: string;
  /** The revision being released (canary / preview / new). */
  canaryRevision: number;
  /** The revision serving production before this release; null on a first deploy. */
  stableRevision: number | null;
  /** Resolved template args (`{{args.name}}`), plus built-ins: rollout, canaryRevision, stableRevision. */
  args: Record<string, string>;
  /** host:port addresses that reach each side, when the rollout has them. */
  addresses: { main: string; canary?: string; preview?: string };
  /** When the analysis run started (ms since epoch): windows never reach before it. */
  runStartedAt: number;
  now: number;
}

/** A provider's answer: `value` is what conditions see as `result`. */
export interface ProviderResult {
  value: unknown;
  /** Extra facts worth showing beside the value (query text, sample counts, p-values…). */
  details?: Record<string, unknown>;
}

/**
 * One source of measurements. `measure` throws on failure (unreachable source, bad answer):
 * the run records an Error measurement, never a success.
 */
export interface MetricProvider<Config = unknown> {
  readonly kind: ProviderKind;
  measure(config: Config, ctx: MeasurementContext, signal: AbortSignal): Promise<ProviderResult>;
}

export type ProviderKind = 'builtin' | 'prometheus' | 'web' | 'job' | 'judge';

/** Router measurements of one revision (or the two sides compared) over a sliding window. */
export interface BuiltinProviderConfig {
  /**
   * request-rate (req/s), error-rate (5xx share 0..1), success-rate (0..1), latency-p50/p90/p95/p99
   * (seconds), requests (count), mismatch-rate (a shadow revision's mirrored copies whose answer
   * differed from the primary's, over the copies compared, 0..1).
   */
  metric: BuiltinMetric;
  /** Which revision: canary (default) or stable. */
  revision: 'canary' | 'stable';
  /** Window in seconds (default 30). Never reaches before the run started. */
  windowSeconds: number;
  /** Compare canary with stable: result = canary − stable (difference) or canary / stable (ratio). */
  compare?: 'difference' | 'ratio';
  /** Fewer requests than this in the window: the measurement is Inconclusive (default 20). */
  minRequests: number;
}

export type BuiltinMetric =
  | 'request-rate'
  | 'requests'
  | 'error-rate'
  | 'success-rate'
  | 'latency-p50'
  | 'latency-p90'
  | 'latency-p95'
  | 'latency-p99'
  | 'mismatch-rate';

export interface PrometheusProviderConfig {
  /** e.g. http://127.0.0.1:9090 */
  address: string;
  /** PromQL; `{{args.x}}` is substituted before sending. */
  query: string;
  timeoutSeconds: number;
  /** What an empty result or NaN means: error (default), inconclusive, or a value. */
  onEmpty: 'error' | 'inconclusive' | { value: number };
  headers: Record<string, string>;
}

export interface WebProviderConfig {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  /** JSON body for POST; strings inside get `{{args.x}}` substitution. */
  body?: unknown;
  /** JSONPath into the answer, e.g. $.data.ok or {$.results[0].value}; default: the whole body. */
  jsonPath?: string;
  timeoutSeconds: number;
}

export interface JobProviderConfig {
  /** argv; no shell. Env gets SLUICE_ROLLOUT, SLUICE_CANARY_REVISION, SLUICE_STABLE_REVISION, SLUICE_CANARY_ADDRESS… and ARG_<NAME>. */
  command: string[];
  cwd?: string;
  env: Record<string, string>;
  timeoutSeconds: number;
}

/** A Kayenta-style judge: canary samples vs baseline samples, per metric. */
export interface JudgeProviderConfig {
  metrics: JudgeMetricConfig[];
  /** Score thresholds in percent (Kayenta's defaults: pass 95, marginal 75). */
  thresholds: { pass: number; marginal: number };
  /** Confidence level of the Mann–Whitney interval (default 0.95 → alpha 0.05). */
  confidence: number;
  windowSeconds: number;
}

export interface JudgeMetricConfig {
  name: string;
  /** Which per-request sample the builtin router collects: latency (seconds) or error (0/1). */
  source: 'latency' | 'error';
  /** Which change is bad: increase, decrease, or either. */
  direction: 'increase' | 'decrease' | 'either';
  /** Allowed relative shift before a metric is High/Low, as a fraction (0.1 = 10 %). */
  tolerance: number;
  weight: number;
  /** A critical metric that fails fails the whole judgement. */
  critical: boolean;
  /** Fewer samples than this on either side: NoData. */
  minSamples: number;
}

export type ProviderConfig =
  | { builtin: BuiltinProviderConfig }
  | { prometheus: PrometheusProviderConfig }
  | { web: WebProviderConfig }
  | { job: JobProviderConfig }
  | { judge: JudgeProviderConfig };

export interface MetricSpec {
  name: string;
  provider: ProviderConfig;
  /** Seconds between measurements. */
  interval: number;
  /** Measurements to take; 0 = until the run is stopped (background analysis). */
  count: number;
  initialDelay: number;
  /** Expression over `result`; empty = any value is a success unless failureCondition holds. */
  successCondition?: string;
  failureCondition?: string;
  /** Failed measurements tolerated; one more fails the metric (Argo: default 0). */
  failureLimit: number;
  /** Inconclusive measurements tolerated; one more makes the metric Inconclusive (default 0). */
  inconclusiveLimit: number;
  /** Consecutive provider errors tolerated; one more fails the metric as Error (Argo: default 4). */
  consecutiveErrorLimit: number;
  /** Measured and shown, but never decides the run. */
  dryRun: boolean;
}

export interface AnalysisArg {
  name: string;
  value?: string;
}

export interface AnalysisTemplateSpec {
  name: string;
  args: AnalysisArg[];
  metrics: MetricSpec[];
  /** What a Failed run does to the rollout: abort (default) or pause for a human. */
  onFailure: 'abort' | 'pause';
}

export type MeasurementPhase = 'Successful' | 'Failed' | 'Inconclusive' | 'Error';

export interface Measurement {
  metric: string;
  phase: MeasurementPhase;
  value?: unknown;
  message?: string;
  details?: Record<string, unknown>;
  startedAt: number;
  finishedAt: number;
}

export type RunPhase = 'Pending' | 'Running' | 'Successful' | 'Failed' | 'Inconclusive' | 'Error';

/** Where a rollout asks for analysis: templates by name and/or inline metrics, with args. */
export interface AnalysisRef {
  templates: { templateName: string }[];
  metrics: MetricSpec[];
  args: AnalysisArg[];
}

/** An analysis ready to run: templates merged, args resolved. Stored with the run. */
export interface ConcreteAnalysis {
  metrics: MetricSpec[];
  args: Record<string, string>;
  onFailure: 'abort' | 'pause';
}

/** A metric's state within a run, derived from its measurements. */
export interface MetricRunStatus {
  name: string;
  phase: RunPhase;
  measured: number;
  successful: number;
  failed: number;
  inconclusive: number;
  errors: number;
  consecutiveErrors: number;
  dryRun: boolean;
  last?: Measurement;
  message?: string;
}

/**
 * The post-deploy watch for rolling and recreate releases, after the automated rollback
 * monitor our users run by hand (../shared/playbooks/estrategias-de-deployment.es.md):
 * sample the new revision every `interval` for `duration`; roll back at once when one
 * sample crosses an immediate threshold; at the end, succeed only if the averages stay
 * under theirs and few enough samples were bad. Every number is a setting.
 */
export interface PostDeployWatch {
  interval: number;
  duration: number;
  /** Samples with fewer requests are skipped (not enough to judge). */
  minRequests: number;
  immediate: { errorRate: number; p95: number };
  average: { errorRate: number; p95: number };
  badSample: { errorRate: number; maxShare: number };
}
