/**
 * Experiments: the contract between the spec (`strategy.abTest` metrics and conclusion
 * settings), the data plane (assignment, goals, app events: src/router/experiments/), the
 * store (per-user aggregates: src/store/) and the analysis (src/experiments/). Plain JSON.
 *
 * Flow: the engine puts an ExperimentRoutes on an A/B test's main listener; the router
 * assigns each user a variant by a salted hash of the user key (src/experiments/assign.ts),
 * records an exposure the first time it serves a user, a conversion when a request matches
 * a goal or the app posts an event, and journals every record on disk; the control plane
 * pulls the journal (seq numbers), applies it to the store in one transaction per batch
 * (idempotent: a batch at or below the stored cursor changes nothing), then acknowledges;
 * the analysis reads the store's running totals, never the raw events.
 */

/** `binomial`: converted or not (a user counts once). `continuous`: the sum of a user's values (revenue). */
export type MetricKind = 'binomial' | 'continuous';

/** A request the router sees that counts as a conversion of the user who made it. */
export interface GoalSpec {
  /** Request methods (upper case); absent: any. */
  methods?: string[];
  /** Exactly one of path (exact, without the query) or pathPrefix. */
  path?: string;
  pathPrefix?: string;
  /** Response status class that counts: 2 (2xx, the default), 3, 4 or 5. */
  statusClass?: 2 | 3 | 4 | 5;
  /** Continuous metrics: a response header carrying the value (a decimal number); absent or unparseable: no conversion. */
  valueHeader?: string;
}

/** One metric of an experiment. Exactly one source: goal, event or prometheus. */
export interface MetricSpec {
  name: string;
  kind: MetricKind;
  /** Which way is better (default higher). */
  direction: 'higher' | 'lower';
  /** The first metric is the primary unless another says primary: true. Exactly one primary. */
  primary: boolean;
  goal?: GoalSpec;
  /** An event name the app posts to the data plane's events endpoint. */
  event?: string;
  /**
   * A Prometheus instant query returning one sample per variant (label `variant`), each the
   * count of converted users of that variant (binomial only; the denominator is the exposed users).
   */
  prometheus?: { query: string; address: string };
  /** Only conversions within this long after the user's exposure count (ms); absent: any time while the test runs. */
  windowMs?: number;
  /** Continuous: whether a negative value is allowed (a refund); default false. */
  allowNegative: boolean;
}

/** Guardrails on the router's own per-variant measurements; a non-control variant over one is stopped. */
export interface GuardrailSpec {
  /** Largest 5xx share of a variant's requests, 0..1 (e.g. 0.05). */
  maxErrorRate?: number;
  /** Largest p95 latency of a variant, ms. */
  maxP95LatencyMs?: number;
  /** Requests a variant must have served before a guardrail can stop it (default 100). */
  minRequests: number;
}

/** When and how the experiment concludes (src/experiments/recommend.ts). */
export interface ConclusionSpec {
  /** Users per variant before any verdict but STOP (default 1000, the playbook's). */
  minimumUsers: number;
  /** Time since the first exposure before any verdict but STOP (ms, default 0). */
  minimumDurationMs: number;
  /** After this long without a winner the test ends NEUTRAL (ms); absent: runs until a verdict. */
  maximumDurationMs?: number;
  /** Significance level of the sequential test (default 0.05). */
  alpha: number;
  /** Relative lift that matters (default 0.05 = 5 %): a confidence interval inside ±it is NEUTRAL. */
  minimumEffect: number;
  /** Sample-ratio check's alarm level (default 0.001): below it, no SHIP. */
  srmAlpha: number;
  /** Act on a final recommendation: promote the winner, keep the control, or abort (default false: recommend only). */
  auto: boolean;
  /**
   * Users per variant at which the sequential confidence interval is tightest (GrowthBook's
   * tuning parameter; default 5000): set it near the sample you expect to end with.
   */
  sequentialTuning: number;
}

/** `strategy.abTest.experiment`: what makes an A/B test an experiment with statistics. */
export interface ExperimentSpec {
  /** Where a user's key comes from, in order; else the router's signed cookie. */
  userKey: { header?: string; cookie?: string };
  /** The router's signed user cookie (default `sluice-uid`, one year). */
  cookie: { name: string; maxAgeSeconds: number };
  metrics: MetricSpec[];
  guardrails: GuardrailSpec;
  conclusion: ConclusionSpec;
}

/** What the engine puts on an A/B test's main listener (ListenerRoutes.experiment). */
export interface ExperimentRoutes {
  /** The test: `r<revision>a<attempt>` (as ExposureRecord.experiment). */
  experiment: string;
  /** Hash salt: `<rollout>/<experiment>`, so each test reshuffles users. */
  salt: string;
  userKey: { header?: string; cookie?: string };
  cookie: { name: string; maxAgeSeconds: number };
  goals: { metric: string; kind: MetricKind; goal: GoalSpec }[];
  /** Event names the app may post for this test, with the metric each feeds. */
  events: { event: string; metric: string; kind: MetricKind; allowNegative: boolean }[];
}

/** One journal record (the router → the control plane). `at` is epoch ms. */
export type ExperimentRecord =
  | { type: 'exposure'; rollout: string; experiment: string; user: string; variant: string; at: number }
  | {
      type: 'conversion';
      rollout: string;
      experiment: string;
      user: string;
      variant: string;
      metric: string;
      /** 1 for a binomial conversion; the value for a continuous one. */
      value: number;
      at: number;
      source: 'goal' | 'event';
      /** The app reported the user's value from before the test (a CUPED covariate), not a conversion. */
      pre?: boolean;
    };

/** GET /experiments/records on the router's admin API. */
export interface ExperimentRecordBatch {
  /** The journal's id: random, kept in the state dir, so seq continues across router restarts. */
  journal: string;
  /** Ascending seq, all > `after`. */
  records: (ExperimentRecord & { seq: number })[];
  /** Highest seq journaled so far (records may be capped by `max`). */
  last: number;
}

/** What the store keeps per variant (running totals, updated as records are applied). */
export interface VariantTotals {
  variant: string;
  /** Distinct users exposed. */
  users: number;
  firstExposureAt: number | null;
}

/**
 * Per metric and variant, over the exposed users (a user without a conversion counts 0):
 * `converted` users with a value ≠ 0 (binomial: with a conversion), `sum` and `sumSquares`
 * of the per-user values (binomial: 1 or 0). `pre*`: the CUPED covariate x per user (0 when
 * not reported): Σx, Σx², Σxy and how many users reported one.
 */
export interface MetricTotals {
  metric: string;
  variant: string;
  users: number;
  converted: number;
  sum: number;
  sumSquares: number;
  preReported: number;
  preSum: number;
  preSumSquares: number;
  crossSum: number;
}

export interface ExperimentTotals {
  rollout: string;
  experiment: string;
  variants: VariantTotals[];
  metrics: MetricTotals[];
  /**
   * Conversions not counted: after the metric's window, for a user never exposed, or of a
   * metric the rollout's spec does not name (a spec edited while the router still journaled it).
   */
  ignored: { outsideWindow: number; unexposed: number; unknownMetric: number };
  /** The latest `at` of any record of the test applied (counted or ignored). */
  lastRecordAt: number | null;
}

/** Result of applying one journal batch (Store.applyExperimentRecords). */
export interface ApplyRecordsResult {
  applied: number;
  /** At or below the stored cursor: already applied before. */
  skipped: number;
  cursor: number;
}

export interface Interval {
  estimate: number;
  lower: number;
  upper: number;
}

export type Verdict = 'SHIP' | 'STOP' | 'NEUTRAL' | 'CONTINUE';

/** One treatment variant against the control on one metric. */
export interface Comparison {
  variant: string;
  /** Treatment − control. */
  absolute: Interval;
  /** (treatment − control) / control, by the delta method. */
  relative: Interval;
  /** Fixed-horizon test (z for binomial, Welch's t for continuous): valid only at a planned sample. */
  fixed: { statistic: number; pValue: number; df?: number };
  /** Always-valid (an asymptotic confidence sequence, a normal mixture): the p-value and intervals stay valid when looked at any time. */
  sequential: { pValue: number; absolute: Interval; relative: Interval };
  /** The sequential p-value after Holm over every (primary metric × treatment) comparison. */
  adjustedPValue: number;
  /** CUPED was applied (a pre-exposure value was reported for enough users). */
  cuped: boolean;
}

export interface MetricReport {
  name: string;
  kind: MetricKind;
  direction: 'higher' | 'lower';
  primary: boolean;
  variants: { variant: string; users: number; converted: number; mean: number; sd: number }[];
  comparisons: Comparison[];
}

export interface GuardrailReport {
  variant: string;
  requests: number;
  errorRate: number;
  p95LatencyMs: number | null;
  /** Which guardrail it crossed, in one line; absent: within them. */
  violated?: string;
}

export interface Recommendation {
  verdict: Verdict;
  /** SHIP: the winner; STOP: the variant stopped. */
  variant?: string;
  /** One line with the numbers behind it. */
  reason: string;
  /** Final: auto-conclude acts on it (CONTINUE never is). */
  final: boolean;
}

/** What `sluice experiment status` shows; also each stored snapshot (for the report's plots). */
export interface ExperimentReport {
  rollout: string;
  experiment: string;
  at: number;
  startedAt: number | null;
  variants: { variant: string; revision: number; weight: number; users: number; share: number }[];
  srm: { statistic: number; df: number; pValue: number; mismatch: boolean };
  metrics: MetricReport[];
  guardrails: GuardrailReport[];
  recommendation: Recommendation;
  ignored: { outsideWindow: number; unexposed: number };
  /** Set once the test ended (promoted, kept the control, aborted), with what ended it. */
  concluded?: { at: number; verdict: Verdict | 'manual'; variant?: string; by: string };
}

/** The data plane's journal of experiment records, as the control plane reads it (the builtin router's admin API). */
export interface ExperimentJournal {
  /** Records with seq > after, at most max. */
  records(after: number, max?: number): Promise<ExperimentRecordBatch>;
  /** The control plane stored every record up to `upTo`: the data plane may forget them. */
  ack(journal: string, upTo: number): Promise<void>;
}
