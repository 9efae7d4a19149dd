/**
 * Chaos under load (issue 9): a seeded random schedule of user actions and failures
 * against real processes. The schedule depends only on the seed, so a failing run is
 * replayed with `SLUICE_CHAOS_SEED=<seed> npm run test:chaos`; what each action meets
 * (which instance is ready, whether a release is in progress) depends on timing, so the
 * schedule carries a `pick` in [0, 1) instead of a choice made now.
 */
import { rolloutManifest } from './manifest.js';

export type ActionKind =
  | 'apply-good'
  | 'apply-crash-loop'
  | 'apply-never-ready'
  | 'promote'
  | 'abort'
  | 'retry'
  | 'undo'
  | 'pause'
  | 'resume'
  | 'restart'
  | 'kill-9-control-plane'
  | 'router-restart'
  | 'kill-instance'
  | 'flag-kill'
  | 'flag-restore'
  | 'flag-set';

/** Every kind appears at least once in a schedule; the rest are drawn with these weights. */
const WEIGHTS: Record<ActionKind, number> = {
  'apply-good': 4,
  'apply-crash-loop': 2,
  'apply-never-ready': 2,
  promote: 3,
  abort: 1,
  retry: 1,
  undo: 1.5,
  pause: 1,
  resume: 1.5,
  restart: 1,
  'kill-9-control-plane': 1,
  'router-restart': 1,
  'kill-instance': 1.5,
  'flag-kill': 1,
  'flag-restore': 1,
  'flag-set': 1,
};

/** Actions on the whole machine (or on the schedule's one feature flag) rather than on one rollout. */
const GLOBAL: ReadonlySet<ActionKind> = new Set(['kill-9-control-plane', 'router-restart', 'flag-kill', 'flag-restore', 'flag-set']);

/** The feature flag the schedule kills, restores and sets while an OFREP client evaluates it. */
export const CHAOS_FLAG = 'chaos-flag';

export function chaosFlagManifest(): string {
  return `apiVersion: sluice.dev/v1alpha1
kind: FeatureFlag
metadata:
  name: ${CHAOS_FLAG}
spec:
  owner: chaos
  enable:
    percentage: 50
`;
}

/** What a flag-set action sets: a whole percentage from its pick. */
export function flagPercentage(a: ChaosAction): number {
  return Math.round(a.pick * 100);
}

export interface ChaosAction {
  index: number;
  /** ms after the schedule starts. */
  at: number;
  kind: ActionKind;
  /** The rollout acted on (absent for global actions). */
  target?: string;
  /** Version applied by the apply-* kinds: unique per schedule, so each apply makes a revision. */
  version?: string;
  /** Chooses among what exists when the action runs (e.g. which ready instance to kill). */
  pick: number;
}

/** mulberry32: a small, well-mixed 32-bit PRNG; the same seed gives the same sequence on every Node. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function chaosSeed(): number {
  const env = process.env.SLUICE_CHAOS_SEED;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
      throw new Error(`SLUICE_CHAOS_SEED=${env}: not a whole number 0..4294967295 — unset it for a random seed`);
    return n;
  }
  return Math.floor(Math.random() * 0x100000000);
}

/**
 * `count` actions spread over `spanMs` with random gaps; every kind at least once, in a
 * random order, each rollout-level action on a random rollout.
 */
export function makeSchedule(seed: number, rollouts: string[], count: number, spanMs: number): ChaosAction[] {
  const rand = prng(seed);
  const kinds = Object.keys(WEIGHTS) as ActionKind[];
  const total = kinds.reduce((s, k) => s + WEIGHTS[k], 0);
  const drawn: ActionKind[] = [...kinds];
  while (drawn.length < count) {
    let x = rand() * total;
    drawn.push(kinds.find((k) => (x -= WEIGHTS[k]) < 0) ?? kinds[0]);
  }
  for (let i = drawn.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [drawn[i], drawn[j]] = [drawn[j], drawn[i]];
  }
  const gaps = drawn.map(() => 0.5 + rand());
  const scale = spanMs / gaps.reduce((s, g) => s + g, 0);
  let at = 0;
  let versions = 1;
  return drawn.map((kind, index) => {
    at += gaps[index] * scale;
    const action: ChaosAction = { index, at: Math.round(at - gaps[0] * scale), kind, pick: rand() };
    if (!GLOBAL.has(kind)) action.target = rollouts[Math.floor(rand() * rollouts.length)];
    if (kind.startsWith('apply-')) {
      versions++;
      action.version = `${kind === 'apply-good' ? 'v' : kind === 'apply-crash-loop' ? 'crash' : 'noready'}${versions}`;
    }
    return action;
  });
}

export function describeAction(a: ChaosAction): string {
  return `${a.kind}${a.target ? ` ${a.target}` : ''}${a.version ? ` ${a.version}` : ''}`;
}

export function formatSchedule(seed: number, schedule: ChaosAction[]): string {
  return [
    `chaos schedule (seed ${seed}; replay with SLUICE_CHAOS_SEED=${seed} npm run test:chaos):`,
    ...schedule.map((a) => `  #${String(a.index).padStart(2)} t+${(a.at / 1000).toFixed(1).padStart(5)}s  ${describeAction(a)}  (pick ${a.pick.toFixed(3)})`),
  ].join('\n');
}

/** A version that crash-loops (its command exits 1), never becomes ready, or works. */
export function versionBehaviour(version: string): 'crash-loop' | 'never-ready' | 'good' {
  return version.startsWith('crash') ? 'crash-loop' : version.startsWith('noready') ? 'never-ready' : 'good';
}

export interface ChaosRollout {
  name: string;
  port: number;
  /** The strategy block, indented for `spec.strategy`. */
  strategy: string;
  replicas: number;
}

/** The rollout's manifest running `version` of the demo app (or a command that exits 1). */
export function chaosManifest(r: ChaosRollout, version: string): string {
  const behaviour = versionBehaviour(version);
  return rolloutManifest({
    name: r.name,
    version,
    replicas: r.replicas,
    revisionHistoryLimit: 100,
    deadline: 12,
    ...(behaviour === 'crash-loop' ? { args: ['-e', 'process.exit(1)'] } : {}),
    ...(behaviour === 'never-ready' ? { env: { READY: 'false' } } : {}),
    listen: r.port,
    dataPlane: 'builtin',
    strategy: r.strategy,
  });
}

export interface ActionRow {
  action: ChaosAction;
  /** ms after the schedule started, when it really ran (later than planned if the previous one took long). */
  startedAt: number;
  tookMs: number;
  result: string;
  sent: number;
  failed: number;
  /** Answers slower than 200 ms and 1 s (reported, not failures: a stall, not a loss). */
  over200ms: number;
  slow: number;
  maxMs: number;
}

export function actionTable(rows: ActionRow[]): string {
  const head = '|  # |     t | action | result | took | sent | failed | >200 ms | >1 s | max ms |';
  const line = '|---:|------:|---|---|---:|---:|---:|---:|---:|---:|';
  const body = rows.map(
    (r) =>
      `| ${String(r.action.index).padStart(2)} | ${(r.startedAt / 1000).toFixed(1).padStart(5)} | ${describeAction(r.action)} | ${r.result.replace(/\|/g, '/').slice(0, 110)} | ${(r.tookMs / 1000).toFixed(1)}s | ${r.sent} | ${r.failed > 0 ? `**${r.failed}**` : 0} | ${r.over200ms} | ${r.slow} | ${r.maxMs.toFixed(0)} |`,
  );
  return [head, line, ...body].join('\n');
}
