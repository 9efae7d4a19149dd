/**
 * Goals on the request path: a request of an experiment's listener that matches a goal's
 * methods and path (exact, without the query) or pathPrefix, and whose answer's status class
 * matches (default 2xx), is a conversion of the request's user. Request-side tests run when
 * the request is routed (only those that match are kept on the exchange); the value header
 * of a continuous goal is read from the app's response head; the conversion is journaled
 * when the response has been sent in full.
 */
import type { ExperimentRoutes, GoalSpec, MetricKind } from '../../core/experiment.js';
import type { ExperimentRecorder, LiveExperiment } from './types.js';

export interface CompiledGoal {
  metric: string;
  kind: MetricKind;
  methods: Set<string> | undefined;
  path: string | undefined;
  prefix: string | undefined;
  statusClass: number;
  /** Lower case. */
  valueHeader: string | undefined;
}

export function compileGoals(routes: ExperimentRoutes): CompiledGoal[] {
  return routes.goals.map((g) => compileGoal(g.metric, g.kind, g.goal));
}

function compileGoal(metric: string, kind: MetricKind, g: GoalSpec): CompiledGoal {
  return {
    metric,
    kind,
    methods: g.methods === undefined ? undefined : new Set(g.methods),
    path: g.path,
    prefix: g.pathPrefix,
    statusClass: g.statusClass ?? 2,
    valueHeader: kind === 'continuous' ? g.valueHeader?.toLowerCase() : undefined,
  };
}

/** Whether the request side of a goal matches (method, path without the query). */
export function goalMatchesRequest(g: CompiledGoal, method: string, path: string): boolean {
  if (g.methods !== undefined && !g.methods.has(method)) return false;
  if (g.path !== undefined) return path === g.path;
  if (g.prefix !== undefined) return path.startsWith(g.prefix);
  return true;
}

/** The value of a response header as a conversion value: a finite number ≥ 0, else NaN. */
export function parseGoalValue(raw: string): number {
  const t = raw.trim();
  if (t === '' || !/^[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?$/.test(t)) return Number.NaN;
  const v = Number(t);
  return Number.isFinite(v) ? v : Number.NaN;
}

/** One routed request of an experiment listener that may convert: made only when a goal matches its method and path. */
export class GoalHit {
  /** Per goal: the value read from the response head (continuous), NaN until then. */
  private readonly values: number[];

  constructor(
    private readonly plane: ExperimentRecorder,
    private readonly exp: LiveExperiment,
    readonly user: string,
    readonly variant: string,
    private readonly goals: CompiledGoal[],
  ) {
    this.values = goals.map(() => Number.NaN);
  }

  /** The app's response head (raw name/value buffers): reads the goals' value headers. */
  headers(raw: Buffer[]): void {
    const goals = this.goals;
    for (let g = 0; g < goals.length; g++) {
      const name = goals[g].valueHeader;
      if (name === undefined) continue;
      for (let i = 0; i < raw.length; i += 2) {
        if (raw[i].length === name.length && raw[i].toString('latin1').toLowerCase() === name) {
          this.values[g] = parseGoalValue(raw[i + 1].toString('latin1'));
          break;
        }
      }
    }
  }

  /** The response is over: journal a conversion per goal whose status class (and value) holds. */
  finish(status: number, complete: boolean): void {
    if (!complete) return;
    const cls = Math.floor(status / 100);
    const goals = this.goals;
    for (let g = 0; g < goals.length; g++) {
      const goal = goals[g];
      if (goal.statusClass !== cls) continue;
      let value = 1;
      if (goal.kind === 'continuous') {
        if (goal.valueHeader === undefined) continue;
        value = this.values[g];
        if (!(value >= 0)) continue;
      }
      this.plane.convert(this.exp, this.user, this.variant, goal.metric, value, 'goal');
    }
  }
}
