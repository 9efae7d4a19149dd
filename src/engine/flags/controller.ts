/**
 * The control plane's side of feature flags: applies FeatureFlag documents, changes a
 * flag's state (kill switch, percentage) with an event in the rollouts' log, and pushes
 * every flag, compiled, to the data plane after each change. A push that fails is retried
 * until one succeeds; the change itself is in the store already, so it is never lost.
 */
import type { Clock } from '../../core/clock.js';
import {
  flagSubject,
  type ClientTokenRecord,
  type FlagControl,
  type FlagdDocument,
  type FlagdFlag,
  type FlagPlane,
  type FlagRecord,
  type FlagSetSpec,
  type FlagSpec,
  type FlagState,
  type FlagUsage,
} from '../../core/flags.js';
import type { RolloutEvent } from '../../core/rollout.js';
import type { Store } from '../../core/store.js';
import { compileFlag, compileFlags } from '../../flags/compile.js';
import { NotFoundError, UserError } from '../../util/errors.js';
import type { ApplyResult } from '../actions.js';
import { staleFlags, type StaleFlag } from './stale.js';

/** How often the data plane's evaluation counters are read. */
export const FLAG_USAGE_INTERVAL_MS = 10_000;
/** Retry delays of a failed push: doubling from the first to the last. */
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 10_000;
const GENERATION_KEY = 'flags.generation';
const SEEN_KEY = 'flags.usageSeen';

/** One FeatureFlag / FeatureFlags document of an apply. */
export interface LoadedFlagSet {
  set: FlagSetSpec;
  source: string;
  file: string;
  line: number;
  /** Line of each flag's definition in the file (spec/flags.ts), for errors; default `line`. */
  lines?: Record<string, number>;
}

/** A loaded resource of kind FeatureFlag (one flag) or FeatureFlags (a set) as a flag set; others: none. */
export function flagSetsOf(r: { kind: string; value: unknown; source: string; file: string; line: number }): LoadedFlagSet[] {
  if (r.kind !== 'FeatureFlag' && r.kind !== 'FeatureFlags') return [];
  const v = r.value as Partial<FlagSetSpec> & Partial<FlagSpec> & { flag?: FlagSpec; lines?: Record<string, number> };
  const set: FlagSetSpec = Array.isArray(v.flags)
    ? { flags: v.flags, evaluators: v.evaluators ?? {}, metadata: v.metadata ?? {} }
    : v.flag
      ? { flags: [v.flag], evaluators: v.evaluators ?? {}, metadata: {} }
      : { flags: [r.value as FlagSpec], evaluators: {}, metadata: {} };
  return [{ set, source: r.source, file: r.file, line: r.line, ...(v.lines ? { lines: v.lines } : {}) }];
}

/** Where pushes to the data plane stand. */
export interface FlagPushStatus {
  /** The last generation sent (0: none yet). */
  generation: number;
  /** The last generation the data plane acknowledged (0: none since this control plane started). */
  servedGeneration: number;
  /** A change is waiting to be pushed (in flight or to be retried). */
  pending: boolean;
  /** The last push failed with this (one line); cleared by the next that succeeds. */
  error?: string;
  /** Epoch ms of the first failure in a row. */
  failingSince?: number;
}

export interface FlagSummary {
  name: string;
  type: FlagSpec['type'];
  owner?: string;
  killed: boolean;
  /** The effective percentage of `enable` (state over spec); absent without `enable`. */
  percentage?: number;
  /** The ramp's phase and step, when the flag has one. */
  ramp?: string;
  createdAt: number;
  updatedAt: number;
  /** Evaluations counted, all variants. */
  evaluations: number;
  lastEvaluatedAt?: number;
}

export interface FlagList {
  flags: FlagSummary[];
  push: FlagPushStatus;
}

export interface FlagView extends FlagRecord {
  /** What the data plane evaluates, or why it cannot be compiled. */
  compiled?: FlagdFlag;
  compileError?: string;
  usage: FlagUsage[];
  push: FlagPushStatus;
}

/** What the API offers on flags (engine/flags/controller.ts implements it). */
export interface FlagActions {
  listFlags(): Promise<FlagList>;
  getFlag(name: string): Promise<FlagView>;
  flagHistory(name: string): Promise<RolloutEvent[]>;
  /** The kill switch; a flag already killed is a conflict. */
  killFlag(name: string, by: string, reason?: string): Promise<FlagPushStatus>;
  restoreFlag(name: string, by: string, reason?: string): Promise<FlagPushStatus>;
  setFlagPercentage(name: string, percentage: number, by: string, reason?: string): Promise<FlagPushStatus>;
  staleFlags(days?: number): Promise<StaleFlag[]>;
  /** A new read-only client token (printed once); absent: tokens cannot be made here. */
  createClientToken?(name: string, flags: string[] | undefined, by: string): Promise<{ name: string; token: string; flags?: string[] }>;
}

/** Client tokens, held by the daemon (a file of the state directory). */
export interface ClientTokenSource {
  /** What the data plane checks: hashes only. */
  records(): ClientTokenRecord[];
  create?(name: string, flags?: string[]): { name: string; token: string; flags?: string[] };
}

/** A small key-value store the controller keeps its push generation and usage readings in. */
export interface FlagKv {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

export interface FlagControllerOptions {
  store: Store;
  clock: Clock;
  /** Absent: changes are stored and the push is reported as pending until one is given. */
  plane?: FlagPlane;
  /** host:port the data plane serves OFREP on. */
  listen: string;
  tokens?: ClientTokenSource;
  /** Keeps the generation across restarts; default in memory. */
  kv?: FlagKv;
  log?: (line: string) => void;
  /** Tests may stub it; default flags/compile.ts. */
  compile?: (records: readonly FlagRecord[]) => FlagdDocument;
}

function memoryKv(): FlagKv {
  const m = new Map<string, string>();
  return { get: (k) => m.get(k), set: (k, v) => void m.set(k, v) };
}

function effectivePercentage(r: FlagRecord): number | undefined {
  if (!r.spec.enable) return undefined;
  return r.state.percentage ?? r.spec.enable.percentage ?? 100;
}

/** A flag's state in a few words, for "before → after" in events. */
export function describeFlagState(r: FlagRecord): string {
  if (r.state.killed) return `killed (serves "${r.spec.offVariant}")`;
  const pct = effectivePercentage(r);
  return pct === undefined ? `live (default "${r.spec.defaultVariant}")` : `live at ${pct} %`;
}

export class FlagController implements FlagControl, FlagActions {
  private readonly store: Store;
  private readonly clock: Clock;
  private plane: FlagPlane | undefined;
  private readonly kv: FlagKv;
  private readonly log: (line: string) => void;
  private readonly compile: (records: readonly FlagRecord[]) => FlagdDocument;
  private status: FlagPushStatus;
  /** A push is running; `again` when another change came in meanwhile. */
  private inFlight: Promise<void> | undefined;
  private again = false;
  /** A push is due at the next microtask (unless one starts before). */
  private scheduled = false;
  private retryTimer: { cancel(): void } | undefined;
  private retryDelay = RETRY_FIRST_MS;
  private usageTimer: ReturnType<typeof setInterval> | undefined;
  private closed = false;

  constructor(private readonly options: FlagControllerOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.plane = options.plane;
    this.kv = options.kv ?? memoryKv();
    this.log = options.log ?? (() => undefined);
    this.compile = options.compile ?? compileFlags;
    this.status = { generation: Number(this.kv.get(GENERATION_KEY) ?? 0), servedGeneration: 0, pending: false };
  }

  /** Push what the store holds (a start re-pushes: the data plane may have missed changes) and collect usage every 10 s. */
  start(options: { usageIntervalMs?: number } = {}): Promise<void> {
    const ms = options.usageIntervalMs ?? FLAG_USAGE_INTERVAL_MS;
    this.usageTimer = setInterval(() => {
      this.collectUsage().catch((e: Error) => this.log(`flags: cannot read the data plane's evaluation counters: ${e.message}`));
    }, ms);
    this.usageTimer.unref?.();
    return this.push();
  }

  /** Connect the data plane later (the daemon wires it once the router serves flags); pushes at once. */
  setPlane(plane: FlagPlane): Promise<void> {
    this.plane = plane;
    return this.push();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.usageTimer) clearInterval(this.usageTimer);
    this.retryTimer?.cancel();
    await this.inFlight?.catch(() => undefined);
  }

  // ——— FlagControl (the engine's side) ———

  has(flag: string): boolean {
    return this.store.getFlag(flag) !== undefined;
  }

  /** A canary's `setFlag` or a ramp step: the same percentage again changes nothing. */
  setPercentage(flag: string, percentage: number, by: string, why: string): void {
    checkPercentage(percentage);
    this.change(flag, by, why, 'FlagPercentage', 'Normal', (r, s) => {
      if (!r.spec.enable) {
        throw new UserError(
          `flag ${flag} has no \`enable\` rule: a percentage applies to enable's users — add spec.enable (variant, percentage) or change its targeting`,
          'conflict',
          409,
        );
      }
      if (effectivePercentage(r) === percentage && s.percentage === percentage) return false;
      s.percentage = percentage;
      return true;
    });
  }

  /** Kill on abort: a flag already killed stays so, without another event. */
  kill(flag: string, by: string, why: string): void {
    this.change(flag, by, why, 'FlagKilled', 'Warning', (_r, s) => {
      if (s.killed) return false;
      s.killed = true;
      return true;
    });
  }

  unkill(flag: string, by: string, why: string): void {
    this.change(flag, by, why, 'FlagRestored', 'Normal', (_r, s) => {
      if (!s.killed) return false;
      s.killed = false;
      return true;
    });
  }

  // ——— apply ———

  /** Names the flags of `sets` and the store hold: a rollout may refer to any of them. */
  known(sets: readonly LoadedFlagSet[]): Set<string> {
    return new Set([...this.store.listFlags().map((f) => f.name), ...sets.flatMap((s) => s.set.flags.map((f) => f.name))]);
  }

  /**
   * Store the flags of an apply (call inside the apply's store transaction); state and
   * createdAt of existing flags are kept. Each created or changed flag gets an event; a push follows.
   */
  applyFlags(sets: readonly LoadedFlagSet[], by: string): ApplyResult[] {
    const now = this.clock.now();
    const seen = new Map<string, string>();
    const results: ApplyResult[] = [];
    for (const { set, source, file, line: docLine, lines } of sets) {
      for (const spec of set.flags) {
        const line = lines?.[spec.name] ?? docLine;
        const earlier = seen.get(spec.name);
        if (earlier) throw new UserError(`${file}:${line}: FeatureFlag "${spec.name}" is also defined at ${earlier} — keep one of them`);
        seen.set(spec.name, `${file}:${line}`);
        const existing = this.store.getFlag(spec.name);
        const record: FlagRecord = {
          name: spec.name,
          spec,
          source,
          evaluators: set.evaluators,
          state: existing?.state ?? { killed: false, updatedAt: now },
          createdAt: existing?.createdAt ?? spec.lifecycle.created ?? now,
        };
        if (existing && JSON.stringify(existing.spec) === JSON.stringify(spec) && JSON.stringify(existing.evaluators) === JSON.stringify(set.evaluators)) {
          results.push({ name: spec.name, kind: 'FeatureFlag', result: 'unchanged', revision: 0 });
          continue;
        }
        this.store.putFlag(record);
        const message = existing
          ? `spec changed (${spec.type}, default "${spec.defaultVariant}"); state kept: ${describeFlagState({ ...record, state: existing.state })}`
          : `flag created (${spec.type}, default "${spec.defaultVariant}", off variant "${spec.offVariant}")`;
        this.store.appendEvent(flagSubject(spec.name), { type: 'Normal', reason: existing ? 'FlagUpdated' : 'FlagCreated', message }, by, now);
        results.push({ name: spec.name, kind: 'FeatureFlag', result: existing ? 'configured' : 'created', revision: 0 });
      }
    }
    if (results.some((r) => r.result !== 'unchanged')) this.schedulePush();
    return results;
  }

  // ——— FlagActions (the API's side) ———

  async listFlags(): Promise<FlagList> {
    const usage = this.store.listFlagUsage();
    return {
      flags: this.store.listFlags().map((r) => {
        const mine = usage.filter((u) => u.flag === r.name);
        const pct = effectivePercentage(r);
        const last = Math.max(0, ...mine.map((u) => u.lastEvaluatedAt));
        const ramp = r.state.ramp;
        return {
          name: r.name,
          type: r.spec.type,
          ...(r.spec.lifecycle.owner !== undefined ? { owner: r.spec.lifecycle.owner } : {}),
          killed: r.state.killed,
          ...(pct !== undefined ? { percentage: pct } : {}),
          ...(ramp ? { ramp: `${ramp.phase} step ${ramp.stepIndex + 1}/${r.spec.rollout?.steps.length ?? 0}` } : {}),
          createdAt: r.createdAt,
          updatedAt: r.state.updatedAt,
          evaluations: mine.reduce((n, u) => n + u.count, 0),
          ...(last > 0 ? { lastEvaluatedAt: last } : {}),
        };
      }),
      push: this.pushStatus(),
    };
  }

  async getFlag(name: string): Promise<FlagView> {
    const r = this.record(name);
    let compiled: FlagdFlag | undefined;
    let compileError: string | undefined;
    try {
      compiled = compileFlag(r);
    } catch (e) {
      compileError = (e as Error).message;
    }
    return {
      ...r,
      ...(compiled !== undefined ? { compiled } : {}),
      ...(compileError !== undefined ? { compileError } : {}),
      usage: this.store.listFlagUsage(name),
      push: this.pushStatus(),
    };
  }

  async flagHistory(name: string): Promise<RolloutEvent[]> {
    const events = this.store.listEvents(flagSubject(name));
    // History outlives the flag: a deleted flag's events are still shown.
    if (events.length === 0) this.record(name);
    return events;
  }

  async killFlag(name: string, by: string, reason?: string): Promise<FlagPushStatus> {
    const r = this.record(name);
    if (r.state.killed) throw new UserError(`flag ${name} is already killed — \`sluice flags restore ${name}\` serves it again`, 'conflict', 409);
    this.kill(name, by, reason ?? '');
    return this.flush();
  }

  async restoreFlag(name: string, by: string, reason?: string): Promise<FlagPushStatus> {
    const r = this.record(name);
    if (!r.state.killed) throw new UserError(`flag ${name} is not killed — nothing to restore`, 'conflict', 409);
    this.unkill(name, by, reason ?? '');
    return this.flush();
  }

  async setFlagPercentage(name: string, percentage: number, by: string, reason?: string): Promise<FlagPushStatus> {
    this.record(name);
    this.setPercentage(name, percentage, by, reason ?? '');
    return this.flush();
  }

  async staleFlags(days?: number): Promise<StaleFlag[]> {
    if (days !== undefined && (!Number.isInteger(days) || days < 1)) throw new UserError(`--days ${days}: must be a whole number of days, at least 1`);
    const last = (flag: string) => this.store.lastEvents(flagSubject(flag), 1)[0]?.at;
    return staleFlags(this.store.listFlags(), last, { days, now: this.clock.now() });
  }

  async createClientToken(name: string, flags: string[] | undefined, by: string): Promise<{ name: string; token: string; flags?: string[] }> {
    const create = this.options.tokens?.create;
    if (!create) throw new UserError('this control plane cannot make client tokens', 'not-implemented', 501);
    for (const f of flags ?? []) this.record(f);
    const made = create(name, flags);
    this.log(`flags: client token ${name} created by ${by}${flags ? ` for ${flags.join(', ')}` : ''}`);
    await this.flush();
    return made;
  }

  // ——— pushing ———

  pushStatus(): FlagPushStatus {
    return { ...this.status };
  }

  /** Push now (or right after the push in flight); resolves when that push is done, failed or not. */
  push(): Promise<void> {
    this.scheduled = false;
    if (this.closed) return Promise.resolve();
    this.status.pending = true;
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    this.inFlight = this.pushLoop().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  /** After the transaction that changed a flag commits (a microtask later: store transactions are synchronous). */
  private schedulePush(): void {
    this.status.pending = true;
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      if (this.scheduled) void this.push();
    });
  }

  private async flush(): Promise<FlagPushStatus> {
    await this.push();
    return this.pushStatus();
  }

  private async pushLoop(): Promise<void> {
    do {
      this.again = false;
      const ok = await this.pushOnce();
      if (!ok) {
        if (!this.closed) {
          const delay = this.retryDelay;
          this.retryDelay = Math.min(RETRY_MAX_MS, this.retryDelay * 2);
          this.retryTimer = this.clock.setTimeout(() => void this.push(), delay);
        }
        return;
      }
    } while (this.again && !this.closed);
    this.retryDelay = RETRY_FIRST_MS;
    this.status.pending = false;
  }

  /** `resynced`: this is the second try, from the generation the data plane said it has. */
  private async pushOnce(resynced = false): Promise<boolean> {
    const fail = (message: string) => {
      const first = this.status.error === undefined;
      this.status.error = message;
      this.status.failingSince ??= this.clock.now();
      if (first) this.log(`flags: ${message} (retrying)`);
      return false;
    };
    if (!this.plane) return fail('no data plane serves flags yet: the change is stored and pushed once one does');
    let document: FlagdDocument;
    try {
      document = this.compile(this.store.listFlags());
    } catch (e) {
      return fail(`cannot compile the flags: ${(e as Error).message}`);
    }
    const generation = this.status.generation + 1;
    this.status.generation = generation;
    // Before sending: a restarted control plane must never send a generation again.
    this.kv.set(GENERATION_KEY, String(generation));
    try {
      await this.plane.pushFlags({ generation, listen: this.options.listen, document, tokens: this.options.tokens?.records() ?? [] });
    } catch (e) {
      // A data plane that refuses the generation (older than, or too far past, the one in
      // effect: a lost database, a lost flags file) says which it has: continue from there.
      const inEffect = (e as { generation?: unknown }).generation;
      if (!resynced && typeof inEffect === 'number' && Number.isSafeInteger(inEffect) && inEffect >= 0 && inEffect + 1 !== generation) {
        this.log(`flags: the data plane has flags generation ${inEffect}, not ${generation - 1}; pushing again from ${inEffect + 1}`);
        this.status.generation = inEffect;
        return this.pushOnce(true);
      }
      return fail(`push of flags generation ${generation} to the data plane failed: ${(e as Error).message.split('\n')[0]}`);
    }
    if (this.status.error !== undefined) this.log(`flags: generation ${generation} pushed; the data plane serves the stored flags again`);
    this.status.servedGeneration = generation;
    delete this.status.error;
    delete this.status.failingSince;
    return true;
  }

  // ——— usage ———

  /**
   * Add what the data plane counted since the last reading into the stored totals. Its
   * counters are cumulative since it started: a lower reading means it restarted, and the
   * reading itself is the growth. The last readings are kept in the kv, so a restarted
   * control plane does not count them twice.
   */
  async collectUsage(): Promise<void> {
    if (!this.plane) return;
    const readings = await this.plane.flagUsage();
    const seen = JSON.parse(this.kv.get(SEEN_KEY) ?? '{}') as Record<string, number>;
    const stored = new Map(this.store.listFlagUsage().map((u) => [`${u.flag}\0${u.variant}`, u]));
    this.store.transaction(() => {
      for (const u of readings) {
        const key = `${u.flag}\0${u.variant}`;
        const before = seen[key] ?? 0;
        const growth = u.count >= before ? u.count - before : u.count;
        seen[key] = u.count;
        if (growth === 0) continue;
        const prev = stored.get(key);
        this.store.putFlagUsage({
          flag: u.flag,
          variant: u.variant,
          count: (prev?.count ?? 0) + growth,
          lastEvaluatedAt: Math.max(prev?.lastEvaluatedAt ?? 0, u.lastEvaluatedAt),
        });
      }
      this.kv.set(SEEN_KEY, JSON.stringify(seen));
    });
  }

  // ——— helpers ———

  private record(name: string): FlagRecord {
    const r = this.store.getFlag(name);
    if (!r) {
      const known = this.store.listFlags().map((f) => f.name);
      throw new NotFoundError(
        `flag "${name}" not found — ${known.length ? `known flags: ${known.join(', ')}` : 'no flags yet: `sluice apply -f FILE` with a kind: FeatureFlag document creates one'}`,
      );
    }
    return r;
  }

  /** One state change: stored with its event in one transaction, then pushed. `mutate` returns false for no change. */
  private change(flag: string, by: string, why: string, reason: string, type: 'Normal' | 'Warning', mutate: (r: FlagRecord, s: FlagState) => boolean): void {
    const r = this.record(flag);
    const s = structuredClone(r.state);
    if (!mutate(r, s)) return;
    const now = this.clock.now();
    s.updatedAt = now;
    const after: FlagRecord = { ...r, state: s };
    const message = `${by}: ${describeFlagState(r)} → ${describeFlagState(after)}${why ? ` — ${why}` : ''}`;
    this.store.transaction(() => {
      this.store.saveFlagState(flag, s);
      this.store.appendEvent(flagSubject(flag), { type, reason, message }, by, now);
    });
    this.schedulePush();
  }
}

function checkPercentage(p: number): void {
  if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 100) throw new UserError(`percentage ${p}: must be a number from 0 to 100`);
}
