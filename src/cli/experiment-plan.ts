/**
 * `sluice experiment plan`: how many users a test needs. Parses the flags' rates ("5%" or
 * 0.05) and computes the plan with the statistics module's `sampleSize` (injectable, so the
 * command does not depend on how the module computes it). Pure: no daemon, no I/O.
 */
import { sampleSize, type SampleSizeOptions } from '../experiments/stats/index.js';
import { UsageError } from './command.js';

export type PlanInput = {
  alpha: number;
  power: number;
  /** Relative minimum detectable effect (0.1 = 10 %). */
  mde: number;
  variants: number;
  dailyUsers?: number;
} & ({ kind: 'binomial'; baseline: number } | { kind: 'continuous'; mean: number; sd: number });

export interface ExperimentPlan {
  input: PlanInput;
  /** Treatments compared with the control. */
  comparisons: number;
  /** alpha / comparisons: Holm's first step, so the plan holds for the strictest comparison. */
  alphaPerComparison: number;
  usersPerVariant: number;
  totalUsers: number;
  /** With dailyUsers: whole days until every variant has its users. */
  days?: number;
}

export type SampleSize = (opts: SampleSizeOptions) => number;

export function makePlan(input: PlanInput, size: SampleSize = sampleSize): ExperimentPlan {
  const comparisons = input.variants - 1;
  const alphaPerComparison = input.alpha / comparisons;
  const common = { mde: input.mde, alpha: alphaPerComparison, power: input.power };
  const usersPerVariant =
    input.kind === 'binomial'
      ? size({ kind: 'binomial', baseline: input.baseline, ...common })
      : size({ kind: 'continuous', mean: input.mean, sd: input.sd, ...common });
  const totalUsers = usersPerVariant * input.variants;
  return {
    input,
    comparisons,
    alphaPerComparison,
    usersPerVariant,
    totalUsers,
    ...(input.dailyUsers !== undefined ? { days: Math.ceil(totalUsers / input.dailyUsers) } : {}),
  };
}

/**
 * A rate or probability: "5%" → 0.05, "0.05" → 0.05. A bare number above 1 is refused
 * (5 could mean 5 % or 500 %): the message says to write 5%.
 */
export function parseRate(flag: string, raw: string, example: string): number {
  const text = raw.trim();
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(%?)$/.exec(text);
  if (!m) throw new UsageError(`--${flag} "${raw}" is not a number — write it as ${example}`);
  const value = Number(m[1]) / (m[2] ? 100 : 1);
  if (!m[2] && value > 1) throw new UsageError(`--${flag} ${raw}: a fraction is at most 1 — write ${raw}% for ${raw} percent, or ${example}`);
  return value;
}

function between(flag: string, value: number, raw: string, low: number, high: number, what: string): number {
  if (!(value > low && value < high)) throw new UsageError(`--${flag} ${raw}: ${what}`);
  return value;
}

function positiveNumber(flag: string, raw: string | undefined, example: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} "${raw}": must be a number above 0, e.g. ${example}`);
  return n;
}

function integer(flag: string, raw: string | undefined, min: number, example: string): number | undefined {
  if (raw === undefined) return undefined;
  const text = raw.replace(/[_,]/g, '');
  if (!/^\d+$/.test(text) || Number(text) < min) throw new UsageError(`--${flag} "${raw}": must be a whole number of at least ${min}, e.g. ${example}`);
  return Number(text);
}

/** The flags of `sluice experiment plan`, checked one by one (each error names its flag and what to write). */
export function parsePlanFlags(v: {
  baseline?: string;
  mean?: string;
  sd?: string;
  mde?: string;
  power?: string;
  alpha?: string;
  variants?: string;
  'daily-users'?: string;
}): PlanInput {
  if (v.mde === undefined) throw new UsageError('--mde is missing: the smallest relative change worth finding, e.g. --mde 10%');
  const mde = parseRate('mde', v.mde, '10% or 0.1');
  if (!(mde > 0)) throw new UsageError(`--mde ${v.mde}: must be above 0 (the size of the change, without its sign), e.g. 10%`);
  const power = between('power', parseRate('power', v.power ?? '0.8', '80% or 0.8'), v.power ?? '', 0, 1, 'must be between 0 and 1 (exclusive), e.g. 0.8');
  const alpha = between(
    'alpha',
    parseRate('alpha', v.alpha ?? '0.05', '5% or 0.05'),
    v.alpha ?? '',
    0,
    0.5 + 1e-12,
    'must be above 0 and at most 0.5, e.g. 0.05',
  );
  const variants = integer('variants', v.variants, 2, '2 (control and one treatment)') ?? 2;
  const dailyUsers = integer('daily-users', v['daily-users'], 1, '20000');
  const common = { mde, power, alpha, variants, ...(dailyUsers !== undefined ? { dailyUsers } : {}) };
  if (v.baseline !== undefined) {
    if (v.mean !== undefined || v.sd !== undefined)
      throw new UsageError('--baseline (a conversion rate) and --mean/--sd (a continuous metric) do not go together: give one or the other');
    const baseline = between(
      'baseline',
      parseRate('baseline', v.baseline, '5% or 0.05'),
      v.baseline,
      0,
      1,
      'a conversion rate must be between 0% and 100% (exclusive), e.g. 5%',
    );
    if (baseline * (1 + mde) >= 1) throw new UsageError(`--mde ${v.mde}: ${(baseline * 100).toFixed(2)}% lifted by it is 100% or more — use a smaller --mde`);
    return { kind: 'binomial', baseline, ...common };
  }
  const mean = positiveNumber('mean', v.mean, '42.5');
  const sd = positiveNumber('sd', v.sd, '30');
  if (mean !== undefined && sd !== undefined) return { kind: 'continuous', mean, sd, ...common };
  if (mean !== undefined || sd !== undefined)
    throw new UsageError(`a continuous metric needs both --mean and --sd (missing ${mean === undefined ? '--mean' : '--sd'})`);
  throw new UsageError("--baseline is missing: the control's conversion rate, e.g. --baseline 5% (or --mean M --sd S for a continuous metric)");
}
