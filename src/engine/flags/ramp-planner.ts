/**
 * A flag ramp's planner (`kind: FeatureFlag` with `rollout.steps`): pure, as the rollout
 * planners are — (flag spec, state, analysis results, now) → the ramp's next status, the
 * percentage to set, the analysis runs it needs, the events that explain it, and when to
 * plan again. engine/flags/ramp-runner.ts performs what it asks for.
 *
 * A `setPercentage` step is done as soon as it is reached: the percentage is asked for in
 * the one plan that moves past it (the saved stepIndex records it), so a re-plan or a
 * restarted control plane does not set it again. A pause waits for its end time (stored,
 * so a restart keeps the remaining time) or for `sluice promote flag/NAME`; an analysis
 * waits for its run, and a failed or unmeasurable run aborts the ramp: the percentage goes
 * back to where it was before the ramp.
 */
import type { AnalysisTemplateSpec } from '../../core/analysis.js';
import { flagSubject, type FlagRampStatus, type FlagRampStep, type FlagSpec, type FlagState } from '../../core/flags.js';
import type { DesiredJob, JobStatus } from '../../core/jobs.js';
import type { RolloutEventDraft } from '../../core/rollout.js';
import { resolveAnalysis } from '../../analysis/resolve.js';

export interface RampInput {
  spec: FlagSpec;
  /** Hash of the spec: a new one starts the ramp again. */
  specHash: string;
  state: FlagState;
  now: number;
  /** The ramp's analysis runs by key. */
  jobs: ReadonlyMap<string, JobStatus>;
  templates: ReadonlyMap<string, AnalysisTemplateSpec>;
}

export interface RampPlan {
  /** Absent: the flag has no ramp (any old ramp status is dropped). */
  ramp?: FlagRampStatus;
  /** Set the flag's percentage to this now (a step passed, or an abort went back). */
  percentage?: number;
  /** Why, for the flag's event. */
  why?: string;
  jobs: DesiredJob[];
  events: RolloutEventDraft[];
  wakeAt?: number;
}

/** The percentage steps before `index` leave the flag at (undefined: none yet). */
export function rampPercentageAt(steps: FlagRampStep[], index: number): number | undefined {
  let pct: number | undefined;
  for (let i = 0; i < Math.min(index, steps.length); i++) {
    const step = steps[i];
    if ('setPercentage' in step) pct = step.setPercentage;
  }
  return pct;
}

/** The key of a ramp's analysis run: one per flag, ramp attempt and step. */
export function rampJobKey(flag: string, attempt: number, step: number): string {
  return `${flagSubject(flag)}/a${attempt}/step${step}.analysis`;
}

export function describeRampStep(step: FlagRampStep): string {
  if ('setPercentage' in step) return `setPercentage ${step.setPercentage}%`;
  if ('pause' in step) return step.pause.duration === undefined ? 'pause until promoted' : `pause ${step.pause.duration}s`;
  return `analysis (${[...step.analysis.templates.map((t) => t.templateName), ...step.analysis.metrics.map((m) => m.name)].join(', ')})`;
}

/** A fresh ramp run over `before` (the last ramp status, if any). */
export function startRamp(state: FlagState, specHash: string, now: number, before = state.ramp): FlagRampStatus {
  // A ramp replaced before it finished goes back, on abort, to where the first one started.
  const unfinished = before && before.phase !== 'Healthy' && !before.aborted;
  const startPercentage = unfinished ? (before.startPercentage ?? 0) : (state.percentage ?? 0);
  return {
    phase: 'Progressing',
    stepIndex: 0,
    specHash,
    paused: before?.paused ?? false,
    aborted: false,
    message: 'ramp starting',
    progressAt: now,
    attempt: (before?.attempt ?? 0) + 1,
    startPercentage,
  };
}

export function planRamp(input: RampInput): RampPlan {
  const { spec, now } = input;
  const name = spec.name;
  const events: RolloutEventDraft[] = [];
  const jobs: DesiredJob[] = [];
  const out: RampPlan = { jobs, events };
  const ramp = spec.rollout;
  if (!ramp) return out;
  const steps = ramp.steps;
  const n = steps.length;
  const old = input.state.ramp;
  let r: FlagRampStatus;
  // A ramp started over an unfinished one first goes back to where that one began.
  let resetTo: number | undefined;
  if (!old || old.specHash !== input.specHash) {
    r = startRamp(input.state, input.specHash, now);
    if (input.state.percentage !== undefined && input.state.percentage !== r.startPercentage) resetTo = r.startPercentage;
    events.push({
      type: 'Normal',
      reason: 'RampStarted',
      message: `${old ? 'the flag spec changed: ' : ''}ramp of flag ${name} starts (${n} step(s)); an abort goes back to ${r.startPercentage}%`,
    });
  } else {
    r = structuredClone(old);
  }
  out.ramp = r;
  const setPhase = (phase: FlagRampStatus['phase'], reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal') => {
    if (r.phase !== phase) events.push({ type, reason, message });
    r.phase = phase;
    r.message = message;
  };
  if (r.aborted || r.phase === 'Healthy') return out;
  if (r.paused) {
    setPhase('Paused', 'RampPaused', `paused by a user at step ${Math.min(r.stepIndex + 1, n)}/${n}; \`sluice resume flag/${name}\` continues`);
    r.progressAt = now;
    // A ramp restarted while paused still goes back to where it begins: it never serves more than its step.
    if (resetTo !== undefined) {
      out.percentage = resetTo;
      out.why = `flag ramp ${name} starts again from ${resetTo}%`;
    }
    return out;
  }
  const startIndex = r.stepIndex;
  const abort = (reason: string, why: string) => {
    r.aborted = true;
    r.phase = 'Degraded';
    r.message = `${why} — percentage back to ${r.startPercentage ?? 0}%; \`sluice retry flag/${name}\` runs the ramp again`;
    delete r.pausedUntil;
    events.push({ type: 'Warning', reason: 'RampAborted', message: `${reason}: ${r.message}` });
    out.percentage = r.startPercentage ?? 0;
    out.why = `flag ramp ${name} aborted: ${why}`;
  };
  let waiting = false;
  while (r.stepIndex < n) {
    const i = r.stepIndex;
    const step = steps[i];
    const where = `step ${i + 1}/${n}`;
    if ('pause' in step) {
      if (step.pause.duration === undefined) {
        setPhase(
          'Paused',
          'RampPauseStep',
          `${where}: paused at ${rampPercentageAt(steps, i) ?? r.startPercentage ?? 0}%, \`sluice promote flag/${name}\` continues`,
        );
        waiting = true;
        break;
      }
      r.pausedUntil ??= now + step.pause.duration * 1000;
      if (now < r.pausedUntil) {
        setPhase(
          'Paused',
          'RampPauseStep',
          `${where}: paused at ${rampPercentageAt(steps, i) ?? r.startPercentage ?? 0}%, continues at ${new Date(r.pausedUntil).toISOString()}`,
        );
        out.wakeAt = r.pausedUntil;
        waiting = true;
        break;
      }
      delete r.pausedUntil;
    } else if ('analysis' in step) {
      const title = `flag ${name} analysis at ${where}`;
      const attempt = r.attempt ?? 1;
      const resolved = resolveAnalysis(step.analysis, input.templates, { rollout: name, flag: name, canaryRevision: String(attempt), stableRevision: '' });
      if ('error' in resolved) {
        abort('AnalysisError', `${title} cannot run: ${resolved.error}`);
        break;
      }
      const key = rampJobKey(name, attempt, i);
      jobs.push({
        key,
        title,
        spec: { kind: 'analysis', analysis: resolved },
        context: { rollout: flagSubject(name), canaryRevision: attempt, stableRevision: null, version: '', addresses: { main: '' } },
      });
      const job = input.jobs.get(key);
      if (!job || job.phase === 'Running' || job.phase === 'Pending') {
        setPhase('Progressing', 'Checking', `${title}: ${job?.message || 'starting'}`);
        waiting = true;
        break;
      }
      if (job.phase === 'Inconclusive') {
        setPhase(
          'Paused',
          'AnalysisInconclusive',
          `${title} was inconclusive: ${job.message} — \`sluice promote flag/${name}\` continues, \`sluice abort flag/${name}\` rolls back`,
          'Warning',
        );
        waiting = true;
        break;
      }
      if (job.phase !== 'Successful') {
        abort(job.phase === 'Error' ? 'AnalysisError' : 'AnalysisFailed', `${title} ${job.phase === 'Error' ? 'could not measure' : 'failed'}: ${job.message}`);
        break;
      }
    }
    events.push({ type: 'Normal', reason: 'RampStepCompleted', message: `flag ${name} ${where} done: ${describeRampStep(step)}` });
    r.stepIndex++;
    r.progressAt = now;
  }
  if (r.aborted) return out;
  if (r.stepIndex > startIndex) {
    const before = rampPercentageAt(steps, startIndex);
    const after = rampPercentageAt(steps, r.stepIndex);
    if (after !== undefined && after !== before) {
      out.percentage = after;
      out.why = `flag ramp ${name} step ${r.stepIndex}/${n}`;
    }
  }
  if (out.percentage === undefined && resetTo !== undefined) {
    out.percentage = resetTo;
    out.why = `flag ramp ${name} starts again from ${resetTo}%`;
  }
  if (r.stepIndex >= n) {
    const pct = rampPercentageAt(steps, n) ?? r.startPercentage ?? 0;
    setPhase('Healthy', 'RampCompleted', `ramp of flag ${name} complete at ${pct}%`);
    return out;
  }
  if (!waiting) return out;
  // Waiting on a person or a measuring run is not a stall; anything else for longer than the deadline is.
  if (r.phase === 'Paused' || jobs.some((j) => input.jobs.get(j.key)?.phase === 'Running')) r.progressAt = now;
  const deadline = r.progressAt + ramp.progressDeadlineSeconds * 1000;
  if (now >= deadline) abort('ProgressDeadlineExceeded', `flag ${name} made no progress for ${ramp.progressDeadlineSeconds}s`);
  else out.wakeAt = Math.min(out.wakeAt ?? Infinity, deadline);
  return out;
}
