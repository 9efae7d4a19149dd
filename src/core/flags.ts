/**
 * Feature flags: the shared contract between spec/ (what users write), flags/ (flagd
 * evaluation and OFREP serving, in the data-plane process), store/, engine/ (flag ramps,
 * `setFlag` canary steps, kill on abort) and api/ + cli/.
 *
 * A flag is written as `kind: FeatureFlag` (one) or `kind: FeatureFlags` (a set, or flagd's
 * own flag-definition JSON as-is). Its *spec* is what the user wrote, with sugar kept apart;
 * its *state* is what sluice changed since (kill switch, the ramp's percentage). The control
 * plane compiles spec + state into one flagd document (`FlagdDocument`) and pushes it to the
 * data plane, which evaluates it flagd's way (JsonLogic + fractional, sem_ver, starts_with,
 * ends_with) and never sees the sugar.
 */
import type { AnalysisRef } from './analysis.js';

export type FlagType = 'boolean' | 'string' | 'number' | 'object';
/** A variant's value: JSON of the flag's type (object: a JSON object). */
export type FlagValue = boolean | string | number | { [key: string]: unknown };
/** flagd's flag metadata: flat, scalar values only. */
export type FlagMetadata = Record<string, string | number | boolean>;

/**
 * The seed's rollout cases as sugar (FeatureFlagManager's percentage / attribute /
 * geography / time rollouts). They compile (flags/compile.ts) to flagd targeting: users
 * matching *every* condition given, and inside the percentage, get `variant`; everyone else
 * gets the default variant. The percentage is a `fractional` split on flagKey + targetingKey
 * with `variant` first, so raising it only adds users.
 */
export interface FlagEnable {
  /** The variant the matching users get (boolean flags: the one whose value is true). */
  variant: string;
  /** 0..100 of the matching users, by targetingKey; absent: all of them. */
  percentage?: number;
  /** Context attribute `segment` is one of these (e.g. premium, beta_testers). */
  segments?: string[];
  /** Context attributes equal to these values. */
  attributes?: Record<string, string | number | boolean>;
  /** Context attribute `country` is one of these (ISO 3166 alpha-2, upper case). */
  countries?: string[];
  /** Context attribute `accountCreatedAt` (epoch seconds) at least this many days before now. */
  minAccountAgeDays?: number;
  /** Only from this time on (epoch ms; the seed's rollout_start). */
  from?: number;
  /** Only before this time (epoch ms). */
  until?: number;
}

/** Lifecycle facts `sluice flags stale` reads. */
export interface FlagLifecycle {
  owner?: string;
  description?: string;
  /** When the flag was created (epoch ms): from the spec, else when sluice first saw it. */
  created?: number;
  /** Past this (epoch ms) the flag is stale whatever it serves. */
  expires?: number;
  /** An ops / permission flag meant to stay: never stale for its age or for being fully on/off. */
  permanent: boolean;
}

/** One step of a flag ramp (`kind: FeatureFlag` with `rollout.steps`), as a canary's. */
export type FlagRampStep = { setPercentage: number } | { pause: { duration?: number } } | { analysis: AnalysisRef };

export interface FlagRamp {
  steps: FlagRampStep[];
  /** Whole ramp deadline without progress, seconds (as a rollout's progressDeadlineSeconds). */
  progressDeadlineSeconds: number;
}

/** One flag as the user wrote it, defaults applied and validated. */
export interface FlagSpec {
  /** The flag key: [A-Za-z0-9_.-], no `/`, no `..`. */
  name: string;
  type: FlagType;
  /** flagd's state: DISABLED answers as flagd does (reason DISABLED, the code default). */
  state: 'ENABLED' | 'DISABLED';
  variants: Record<string, FlagValue>;
  defaultVariant: string;
  /** What the kill switch serves: boolean flags default to the variant whose value is false, others to defaultVariant. */
  offVariant: string;
  /** Sugar; mutually exclusive with `targeting`. */
  enable?: FlagEnable;
  /** flagd JsonLogic targeting as written (may use `$ref` to the set's `$evaluators`). */
  targeting?: unknown;
  metadata: FlagMetadata;
  lifecycle: FlagLifecycle;
  /** Present: the flag is released like a canary (percentage steps of `enable`). */
  rollout?: FlagRamp;
}

/** A set of flags from one document: `kind: FeatureFlags` or a flagd JSON file. */
export interface FlagSetSpec {
  flags: FlagSpec[];
  /** flagd's shared targeting fragments, by name (`{"$ref": name}`). */
  evaluators: Record<string, unknown>;
  /** flagd's flag-set metadata. */
  metadata: FlagMetadata;
}

export type FlagRampPhase = 'Progressing' | 'Paused' | 'Healthy' | 'Degraded';

/** Where a flag ramp is (engine/flags). Absent on a flag without `rollout`. */
export interface FlagRampStatus {
  phase: FlagRampPhase;
  stepIndex: number;
  /** Spec generation the ramp runs (a changed spec starts it again). */
  specHash: string;
  /** Epoch ms the current pause ends; absent: waits for `sluice promote`. */
  pausedUntil?: number;
  /** Manual pause (`sluice pause`). */
  paused: boolean;
  aborted: boolean;
  message: string;
  progressAt: number;
  // --- added by the engine helper (issue 12, flag ramps): optional, so stored states without them read fine.
  /** Counts the ramp's runs (start, spec change, retry): analysis run keys carry it, so a new run is a new key. */
  attempt?: number;
  /** The percentage before the ramp began (absent: 0, a new flag): where an abort goes back to. */
  startPercentage?: number;
}

/** What sluice changed on a flag since it was applied. Kept across applies. */
export interface FlagState {
  /** The kill switch: serve `offVariant` to everyone. */
  killed: boolean;
  /** Percentage of `enable` set by a ramp step, a canary's `setFlag` or the API; absent: the spec's. */
  percentage?: number;
  ramp?: FlagRampStatus;
  updatedAt: number;
}

export interface FlagRecord {
  name: string;
  spec: FlagSpec;
  /** The document's text (or the flag's entry of a flagd file). */
  source: string;
  /** Evaluators of the set it came from, needed to compile its `$ref`s. */
  evaluators: Record<string, unknown>;
  state: FlagState;
  /** First applied (epoch ms). */
  createdAt: number;
}

/** One flag as flagd's flag-definition JSON writes it. */
export interface FlagdFlag {
  state: 'ENABLED' | 'DISABLED';
  variants: Record<string, FlagValue>;
  defaultVariant: string | null;
  targeting?: unknown;
  metadata?: FlagMetadata;
}

/** flagd's flag-definition document (https://flagd.dev/schema/v0/flags.json). */
export interface FlagdDocument {
  $schema?: string;
  flags: Record<string, FlagdFlag>;
  $evaluators?: Record<string, unknown>;
  metadata?: FlagMetadata;
}

/** A read-only OFREP client credential, as the data plane checks it. */
export interface ClientTokenRecord {
  name: string;
  /** sha256 hex of the token; the data plane never holds the token itself. */
  sha256: string;
  /** Flag keys it may read; absent: all (others answer 403). */
  flags?: string[];
}

/**
 * What the control plane pushes to the data plane: every flag, compiled, plus who may read
 * them and where. The data plane persists it before acknowledging (like the route table)
 * and serves the last one from its start, so flags answer while the control plane is down.
 */
export interface FlagPush {
  /** Counts up by one per push, as route tables do. */
  generation: number;
  /** host:port the OFREP endpoint listens on. */
  listen: string;
  document: FlagdDocument;
  tokens: ClientTokenRecord[];
}

/** Evaluations the data plane counted since it started, per flag and variant. */
export interface FlagUsage {
  flag: string;
  /** The variant served; `""` for an evaluation that ended in an error (code default). */
  variant: string;
  count: number;
  /** Epoch ms of the last evaluation. */
  lastEvaluatedAt: number;
}

/** The data plane's side of flags, as the control plane sees it (implemented by dataplane/builtin). */
export interface FlagPlane {
  /** Resolves once the data plane serves this push (persisted first); rejects with a one-line error. */
  pushFlags(push: FlagPush): Promise<void>;
  /** Cumulative counters since the data-plane process started (a restart resets them). */
  flagUsage(): Promise<FlagUsage[]>;
}

/**
 * What the engine may do to flags (a canary's `setFlag`, `killOnAbort`, a flag ramp's
 * steps). Implemented by the control plane's flag controller; every call records an event
 * (who, when, before → after, why) in the same log as rollouts, and pushes at once.
 */
export interface FlagControl {
  /** Names of the flags that exist now. */
  has(flag: string): boolean;
  setPercentage(flag: string, percentage: number, by: string, why: string): void;
  kill(flag: string, by: string, why: string): void;
}

/** The event log subject of a flag: flag events share the rollouts' log under this name. */
export function flagSubject(flag: string): string {
  return `flag/${flag}`;
}

/** A flag key: what OFREP puts in a URL path segment, so no `/`, no `..`, nothing to escape. */
export const FLAG_KEY_PATTERN = /^(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * The user's verbs on a flag ramp (`sluice promote|abort|pause|resume|undo flag/NAME`),
 * the rollouts' verbs; implemented in engine/flags/. Each throws a one-line UserError and
 * changes nothing when the flag has no ramp or the verb does not apply.
 */
export interface FlagRampActions {
  /** Next step now; `full`: straight to the last step's percentage. */
  promote(flag: string, options: { full?: boolean }, by: string): Promise<void>;
  /** Back to the percentage before the ramp started (0 for a new flag), phase Degraded. */
  abort(flag: string, by: string, why?: string): Promise<void>;
  pause(flag: string, by: string): Promise<void>;
  resume(flag: string, by: string): Promise<void>;
  /** Start the ramp again from its first step (after an abort, or to replay it). */
  retry(flag: string, by: string): Promise<void>;
}
