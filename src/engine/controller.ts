import { createHash } from 'node:crypto';
import { parseDocument } from 'yaml';
import type { Clock } from '../core/clock.js';
import { NotFoundError, UserError } from '../util/errors.js';
import type { EnvironmentSpec, PipelineSpec } from '../core/pipeline.js';
import { ReleaseController } from './pipelines/releases.js';
import type { LogChunk, Platform } from '../core/platform.js';
import type { Store } from '../core/store.js';
import type { LoadedRollout } from '../spec/load.js';
import { loadResourcesAsync } from '../spec/load-async.js';
import { DEFAULT_MAINTENANCE } from '../spec/rollout.js';
import type { AnalysisRef } from '../core/analysis.js';
import type { AnalysisView } from './actions.js';
import { DEFAULT_PLATFORM, platformOf, type CanaryStrategy, type PlatformName, type RolloutSpec, type Template } from '../core/spec.js';
import type { Actor, ApplyResult, RolloutActions } from './actions.js';
import type { Reconciler } from './reconciler.js';
import { listenAddresses, sameSocket, unbindableReason } from './listen-addresses.js';
import type { Revision, RolloutRecord, RolloutStatus, RolloutView } from '../core/rollout.js';
import { resetReleaseOf } from './release-reset.js';
import { flagSetsOf, type FlagController } from './flags/controller.js';
import { attachMigrations, checkUndoSchema, type SchemaPort } from './schema-guard.js';

/**
 * Which platforms a control plane runs rollouts on: local always, Kubernetes when `sluice up`
 * was given a kubeconfig (src/daemon/control-plane.ts). A rollout for a platform the control
 * plane lacks is refused at apply (nothing is stored).
 */
export interface PlatformSupport {
  /** What a rollout without spec.platform runs on (the loader's defaultPlatform). */
  default: PlatformName;
  configured: readonly PlatformName[];
}
export const LOCAL_ONLY: PlatformSupport = { default: DEFAULT_PLATFORM, configured: [DEFAULT_PLATFORM] };

/** How many recent events a rollout view carries. */
const VIEW_EVENTS = 20;

export function templateHash(template: Template): string {
  return createHash('sha256').update(canonicalJson(template)).digest('hex').slice(0, 16);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => a.localeCompare(b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function initialStatus(revision: number, now: number): RolloutStatus {
  return {
    phase: 'Progressing',
    reason: 'NewRevision',
    message: `revision ${revision} created`,
    stableRevision: null,
    currentRevision: revision,
    stepIndex: 0,
    pauses: [],
    aborted: false,
    promoteFull: false,
    progressAt: now,
    activeRevision: null,
    weights: [],
    restartGeneration: 0,
    updatedAt: now,
  };
}

/**
 * The user's actions on rollouts. Each one validates first (throwing a one-line UserError
 * and changing nothing), then records its decision as an event with the actor, persists
 * status, and asks the reconciler for a pass.
 */
export class Controller implements RolloutActions {
  constructor(
    private readonly store: Store,
    private readonly reconciler: Reconciler,
    private readonly platform: Platform,
    private readonly clock: Clock,
    private readonly jobs?: { approve(rollout: string, actor: string): number },
    /** Feature flags (engine/flags/controller.ts); without it an apply with FeatureFlag documents is refused. */
    private readonly flags?: FlagController,
    /** Database migrations (src/migrations/service.ts); without it an apply with spec.database is refused. */
    private readonly schema?: SchemaPort,
    /** Environments and pipelines (engine/pipelines/): where applied ones are checked and stored. */
    private readonly pipelines: ReleaseController = new ReleaseController(store, clock),
    /** The platforms this control plane runs rollouts on, and the one a rollout without spec.platform gets. */
    private readonly platforms: PlatformSupport = LOCAL_ONLY,
  ) {}

  async apply(yamlText: string, file: string, by: Actor): Promise<ApplyResult[]> {
    const resources = await loadResourcesAsync(yamlText, file, { defaultPlatform: this.platforms.default });
    const docs: LoadedRollout[] = [];
    const templates = resources.flatMap((r) => (r.kind === 'AnalysisTemplate' ? [r] : []));
    for (const r of resources) if (r.kind === 'Rollout') docs.push({ spec: r.value, source: r.source, file: r.file, line: r.line });
    const flagSets = resources.flatMap((r) => flagSetsOf(r));
    const environments = resources.flatMap((r) => (r.kind === 'Environment' ? [{ spec: r.value, source: r.source }] : []));
    const pipelines = resources.flatMap((r) => (r.kind === 'Pipeline' ? [{ spec: r.value, source: r.source, file: r.file, line: r.line }] : []));
    withEnvironmentEnv(docs, [...this.store.listEnvironments().map((e) => e.spec), ...environments.map((e) => e.spec)]);
    if (flagSets.length > 0 && !this.flags) {
      throw new UserError(`${flagSets[0]!.file}:${flagSets[0]!.line}: this control plane serves no feature flags — start it with \`sluice up\``);
    }
    for (const doc of docs) {
      const platform = platformOf(doc.spec, this.platforms.default);
      if (!this.platforms.configured.includes(platform)) {
        throw new UserError(
          `${doc.file}:${doc.line}: rollout ${doc.spec.name}: spec.platform: ${platform} is not configured on this control plane — start it with sluice up --kubeconfig FILE, or run the rollout here with spec.platform: local and a template.command`,
        );
      }
    }
    for (const doc of docs) await this.checkListenBindable(doc);
    await attachMigrations(docs, this.schema);
    const together = new Set(docs.map((d) => d.spec.name));
    return this.mutate(
      () => {
        const known = new Set([...this.store.listTemplates().map((t) => t.name), ...templates.map((t) => t.value.name)]);
        const knownFlags = this.flags?.known(flagSets) ?? new Set(this.store.listFlags().map((f) => f.name));
        this.pipelines.checkPipelines(pipelines, [
          ...environments.map((e) => e.spec.name),
          ...docs.flatMap((d) => (d.spec.environment ? [d.spec.environment] : [])),
        ]);
        for (const doc of docs) {
          this.checkListenConflicts(doc, together);
          for (const flag of flagRefs(doc.spec)) {
            if (!knownFlags.has(flag)) {
              throw new UserError(
                `${doc.file}:${doc.line}: rollout ${doc.spec.name}: FeatureFlag "${flag}" not found — apply it first or put its kind: FeatureFlag document in the same file`,
              );
            }
          }
          for (const name of templateRefs(doc.spec)) {
            if (!known.has(name)) {
              throw new UserError(
                `${doc.file}:${doc.line}: rollout ${doc.spec.name}: AnalysisTemplate "${name}" not found — apply it first or put it in the same file`,
              );
            }
          }
        }
        const results = this.store.transaction(() => [
          ...templates.map((t) => {
            this.store.putTemplate({ name: t.value.name, spec: t.value, source: t.source });
            return { name: t.value.name, kind: 'AnalysisTemplate' as const, result: 'configured' as const, revision: 0 };
          }),
          ...(flagSets.length > 0 ? this.flags!.applyFlags(flagSets, by.actor) : []),
          ...this.putPipelineResources(environments, pipelines),
          ...docs.map((doc) => this.applyOne(doc, by)),
        ]);
        for (const doc of docs) this.listenIndex().set(doc.spec.name, listenAddresses(doc.spec));
        return results;
        // A template can be used by any rollout: plan them all; else only the applied ones.
      },
      templates.length > 0 ? undefined : [...together],
    );
  }

  private putPipelineResources(environments: { spec: EnvironmentSpec; source: string }[], pipelines: { spec: PipelineSpec; source: string }[]): ApplyResult[] {
    const before = {
      environments: new Map(this.store.listEnvironments().map((e) => [e.name, e.source])),
      pipelines: new Map(this.store.listPipelines().map((p) => [p.name, p.source])),
    };
    this.pipelines.putResources(environments, pipelines);
    const result = (known: Map<string, string>, name: string, source: string) =>
      !known.has(name) ? ('created' as const) : known.get(name) === source ? ('unchanged' as const) : ('configured' as const);
    return [
      ...environments.map((e) => ({
        name: e.spec.name,
        kind: 'Environment' as const,
        result: result(before.environments, e.spec.name, e.source),
        revision: 0,
      })),
      ...pipelines.map((p) => ({ name: p.spec.name, kind: 'Pipeline' as const, result: result(before.pipelines, p.spec.name, p.source), revision: 0 })),
    ];
  }

  async list(): Promise<RolloutView[]> {
    return this.store.listRollouts().map((r) => this.view(r));
  }

  async get(name: string): Promise<RolloutView> {
    return this.view(this.record(name));
  }

  async history(name: string): Promise<Revision[]> {
    this.record(name);
    return this.store.listRevisions(name);
  }

  async events(name: string, options: { afterId?: number; limit?: number } = {}) {
    this.record(name);
    return this.store.listEvents(name, options);
  }

  async promote(name: string, options: { full?: boolean; variant?: string }, by: Actor): Promise<void> {
    await this.act(name, by, (r, s) => {
      this.requireInProgress(r, 'promote');
      const strategy = r.spec.strategy;
      if (strategy.type === 'abTest') {
        const names = strategy.variants.map((v) => v.name);
        if (options.variant === undefined) {
          throw new UserError(`rollout ${name} runs an A/B test — say which variant wins: \`sluice promote ${name} --variant ${names.join('|')}\``);
        }
        if (!names.includes(options.variant)) throw new UserError(`rollout ${name} has no variant "${options.variant}" — its variants are ${names.join(', ')}`);
        s.winner = options.variant;
        s.pauses = s.pauses.filter((p) => p.reason === 'Manual');
        return { reason: 'VariantChosen', message: `variant ${options.variant} chosen by ${by.actor}` };
      }
      if (options.variant !== undefined) throw new UserError(`--variant is for A/B tests; rollout ${name} uses the ${strategy.type} strategy`);
      if (options.full || strategy.type === 'blueGreen' || strategy.type === 'rolling' || strategy.type === 'recreate' || strategy.type === 'shadow') {
        s.promoteFull = true;
        s.pauses = s.pauses.filter((p) => p.reason === 'Manual');
        return { reason: 'PromotedFull', message: promotedFullMessage(strategy.type, s.currentRevision, by.actor) };
      }
      const jobPauses = s.pauses.filter((p) => p.job);
      if (jobPauses.length > 0) {
        for (const p of jobPauses) {
          if (p.job!.includes('/background.')) s.analysisRound = (s.analysisRound ?? 0) + 1;
          else s.waived = [...(s.waived ?? []), p.job!];
        }
        s.pauses = s.pauses.filter((p) => !p.job);
        return { reason: 'Promoted', message: `promoted past ${jobPauses.map((p) => p.reason).join(', ')} (${jobPauses.map((p) => p.job).join(', ')})` };
      }
      const steps = (strategy as CanaryStrategy).steps;
      const from = s.stepIndex;
      s.pauses = s.pauses.filter((p) => p.reason !== 'CanaryPauseStep');
      s.stepIndex = Math.min(from + 1, steps.length);
      return { reason: 'Promoted', message: `promoted past step ${from + 1}/${steps.length}` };
    });
  }

  async abort(name: string, by: Actor): Promise<void> {
    await this.act(name, by, (r, s) => {
      const warm = this.warmRevision(r);
      if (warm !== undefined && s.currentRevision === s.stableRevision) {
        const left = Math.ceil(((s.scaleDownAt as number) - this.clock.now()) / 1000);
        throw new UserError(
          `rollout ${name} has no release in progress — revision ${warm} is still warm (scale-down in ${left}s): \`sluice undo ${name}\` switches all traffic back to it at once`,
          'conflict',
          409,
        );
      }
      this.requireInProgress(r, 'abort');
      if (s.stableRevision === null)
        throw new UserError(`rollout ${name} has no stable revision to go back to — apply a working template instead`, 'conflict', 409);
      resetReleaseOf(s, 'abort', this.clock.now());
      s.phase = 'Degraded';
      s.reason = 'RolloutAborted';
      s.message = `aborted by ${by.actor}: traffic back on revision ${s.stableRevision}; \`sluice retry ${name}\` tries revision ${s.currentRevision} again`;
      return { reason: 'RolloutAborted', message: s.message, type: 'Warning' };
    });
  }

  async retry(name: string, by: Actor): Promise<void> {
    await this.act(name, by, (_r, s) => {
      if (!s.aborted) throw new UserError(`rollout ${name} is not aborted — retry restarts an aborted release`, 'conflict', 409);
      resetReleaseOf(s, 'retry', this.clock.now());
      return { reason: 'Retry', message: `retrying revision ${s.currentRevision} from the first step` };
    });
  }

  async pause(name: string, by: Actor): Promise<void> {
    await this.act(name, by, (_r, s) => {
      if (s.stableRevision !== null && s.currentRevision === s.stableRevision) {
        throw new UserError(
          `rollout ${name} has no release in progress — pause holds a release between its steps, and at rest there is nothing to hold; \`sluice pause-traffic ${name}\` or \`stop-traffic\` holds its traffic`,
          'conflict',
          409,
        );
      }
      if (s.pauses.some((p) => p.reason === 'Manual'))
        throw new UserError(`rollout ${name} is already paused — \`sluice resume ${name}\` continues it`, 'conflict', 409);
      s.pauses.push({ reason: 'Manual', startedAt: this.clock.now() });
      return { reason: 'Paused', message: `paused by ${by.actor}` };
    });
  }

  async resume(name: string, by: Actor): Promise<void> {
    await this.act(name, by, (_r, s) => {
      if (!s.pauses.some((p) => p.reason === 'Manual')) {
        throw new UserError(`rollout ${name} is not paused by a user — to pass a pause step use \`sluice promote ${name}\``, 'conflict', 409);
      }
      s.pauses = s.pauses.filter((p) => p.reason !== 'Manual');
      s.progressAt = this.clock.now();
      return { reason: 'Resumed', message: `resumed by ${by.actor}` };
    });
  }

  async stopTraffic(name: string, by: Actor): Promise<void> {
    await this.act(name, by, (r, s) => {
      if (s.trafficHold?.mode === 'stopped')
        throw new UserError(`traffic to ${name} is already stopped — \`sluice resume-traffic ${name}\` serves it again`, 'conflict', 409);
      s.trafficHold = { mode: 'stopped', since: this.clock.now(), by: by.actor };
      const m = r.spec.traffic.maintenance ?? DEFAULT_MAINTENANCE;
      return {
        reason: 'TrafficStopped',
        message: `traffic stopped by ${by.actor}: every request gets the maintenance answer (${m.status}, Retry-After ${m.retryAfterSeconds}s)`,
        type: 'Warning',
      };
    });
  }

  async pauseTraffic(name: string, options: { timeoutSeconds?: number }, by: Actor): Promise<void> {
    const timeoutSeconds = options.timeoutSeconds ?? 30;
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0 || timeoutSeconds > 3600)
      throw new UserError(`--timeout ${timeoutSeconds}: must be a duration above 0 and at most 1h`);
    await this.act(name, by, (_r, s) => {
      if (s.trafficHold?.mode === 'paused')
        throw new UserError(`traffic to ${name} is already paused — \`sluice resume-traffic ${name}\` releases it`, 'conflict', 409);
      s.trafficHold = { mode: 'paused', since: this.clock.now(), by: by.actor, pauseTimeoutMs: Math.round(timeoutSeconds * 1000) };
      return {
        reason: 'TrafficPaused',
        message: `traffic paused by ${by.actor}: new requests wait (up to ${timeoutSeconds}s each) until \`sluice resume-traffic ${name}\``,
        type: 'Warning',
      };
    });
  }

  async resumeTraffic(name: string, by: Actor): Promise<void> {
    await this.act(name, by, (_r, s) => {
      if (!s.trafficHold) throw new UserError(`traffic to ${name} is neither stopped nor paused`, 'conflict', 409);
      const was = s.trafficHold.mode;
      s.trafficHold = undefined;
      return { reason: 'TrafficResumed', message: `traffic resumed by ${by.actor} (was ${was})` };
    });
  }

  async undo(name: string, options: { toRevision?: number }, by: Actor): Promise<ApplyResult> {
    const before = this.record(name);
    await checkUndoSchema(name, this.undoTarget(before, options), before.spec.database !== undefined, this.store, this.schema, before.spec.database);
    return this.mutate(() => {
      const r = this.record(name);
      const target = this.undoTarget(r, options);
      return this.store.transaction(() => this.switchTemplate(r, target.template, `undo to revision ${target.number}`, by));
    }, [name]);
  }

  /** The revision `sluice undo` goes back to: the one asked for, else the newest that was stable. */
  private undoTarget(r: RolloutRecord, options: { toRevision?: number }): Revision {
    const name = r.name;
    const revisions = this.store.listRevisions(name);
    const current = r.status.currentRevision;
    let target: Revision | undefined;
    if (options.toRevision !== undefined) {
      target = revisions.find((v) => v.number === options.toRevision);
      if (!target) {
        throw new UserError(
          `rollout ${name} has no revision ${options.toRevision} — \`sluice history ${name}\` lists them (${revisions.map((v) => v.number).join(', ')})`,
        );
      }
    } else {
      // The newest revision that was stable (and differs from the current template): never
      // one that only ever failed. Statuses from before stableHistory still know stableRevision.
      const currentHash = revisions.find((v) => v.number === current)?.hash;
      const wasStable = [...(r.status.stableHistory ?? [])].reverse();
      if (r.status.stableRevision !== null && !wasStable.includes(r.status.stableRevision)) wasStable.unshift(r.status.stableRevision);
      target = wasStable.map((n) => revisions.find((v) => v.number === n)).find((v) => v !== undefined && v.number !== current && v.hash !== currentHash);
      if (!target) {
        throw new UserError(
          `rollout ${name} has no earlier revision that was ever stable — \`sluice undo ${name} --to-revision N\` picks one (\`sluice history ${name}\` lists them)`,
        );
      }
    }
    return target;
  }

  async restart(name: string, by: Actor): Promise<void> {
    await this.act(name, by, (_r, s) => {
      if (s.stableRevision === null || s.currentRevision !== s.stableRevision) {
        throw new UserError(`rollout ${name} has a release in progress — restart once it is Healthy (\`sluice status ${name} --watch\`)`, 'conflict', 409);
      }
      s.restartGeneration = (s.restartGeneration ?? 0) + 1;
      return { reason: 'Restart', message: `rolling restart of revision ${s.currentRevision} (generation ${s.restartGeneration}), one instance at a time` };
    });
  }

  async set(name: string, changes: { version?: string; env?: Record<string, string | null> }, by: Actor): Promise<ApplyResult> {
    if (changes.version === undefined && changes.env === undefined) throw new UserError('sluice set needs --version or --env');
    if (changes.version !== undefined && changes.version.trim() === '') throw new UserError('--version must not be empty');
    return this.mutate(() => {
      const r = this.record(name);
      const spec: RolloutSpec = structuredClone(r.spec);
      const doc = parseDocument(r.source);
      if (changes.version !== undefined) {
        spec.template.version = changes.version;
        doc.setIn(['spec', 'template', 'version'], changes.version);
      }
      for (const [key, value] of Object.entries(changes.env ?? {})) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new UserError(`--env ${key}: not a valid environment variable name`);
        if (value === null) delete spec.template.env[key];
        else spec.template.env[key] = value;
      }
      if (changes.env) doc.setIn(['spec', 'template', 'env'], spec.template.env);
      return this.store.transaction(() => {
        this.store.putRollout({ ...r, spec, source: doc.toString() });
        return this.switchTemplate({ ...r, spec }, spec.template, `set ${describeSet(changes)}`, by);
      });
    }, [name]);
  }

  async delete(name: string, by: Actor): Promise<void> {
    await this.mutate(() => {
      this.record(name);
      this.store.transaction(() => {
        this.store.appendEvent(
          name,
          { type: 'Normal', reason: 'Deleted', message: `rollout deleted; its instances are drained and stopped` },
          by.actor,
          this.clock.now(),
        );
        this.store.deleteRollout(name);
      });
      this.listens?.delete(name);
    }, [name]);
  }

  async analysis(name: string): Promise<AnalysisView[]> {
    this.record(name);
    return this.store.listJobs(name).map(({ job, status }) => ({
      job,
      status,
      measurements: job.spec.kind === 'analysis' ? this.store.listMeasurements(job.key).slice(-50) : [],
    }));
  }

  async approve(name: string, by: Actor): Promise<number> {
    this.record(name);
    const n = this.jobs?.approve(name, by.actor) ?? 0;
    if (n === 0) throw new UserError(`rollout ${name} has no approval waiting`, 'conflict', 409);
    this.store.appendEvent(name, { type: 'Normal', reason: 'Approved', message: `approved by ${by.actor}` }, by.actor, this.clock.now());
    this.reconciler.trigger(name);
    return n;
  }

  async logs(name: string, instanceId: string, offset: number, maxBytes: number): Promise<LogChunk> {
    this.record(name);
    // Only the rollout's own instances: a name in the URL must not open another rollout's logs.
    if (!this.platform.list(name).some((i) => i.id === instanceId)) {
      throw new UserError(`rollout ${name} has no instance ${instanceId} — \`sluice get rollout ${name}\` lists its instances`, 'not-found', 404);
    }
    return this.platform.readLogs(instanceId, offset, maxBytes);
  }

  private view(record: RolloutRecord): RolloutView {
    const exposures = this.store.listExposures(record.name);
    return {
      ...record,
      ...(exposures.length > 0 ? { exposures } : {}),
      revisions: this.store.listRevisions(record.name),
      instances: this.platform.list(record.name),
      events: this.store.lastEvents(record.name, VIEW_EVENTS),
      jobs: this.store
        .listJobs(record.name)
        .slice(-20)
        .map((j) => j.status),
    };
  }

  private record(name: string): RolloutRecord {
    const r = this.store.getRollout(name);
    if (!r) {
      const known = this.store.listRollouts().map((x) => x.name);
      throw new NotFoundError(
        `rollout "${name}" not found — ${known.length ? `known rollouts: ${known.join(', ')}` : 'no rollouts yet: `sluice apply -f FILE` creates one'}`,
      );
    }
    return r;
  }

  private requireInProgress(r: RolloutRecord, verb: string): void {
    const s = r.status;
    if (s.aborted) throw new UserError(`rollout ${r.name} was aborted — \`sluice retry ${r.name}\` starts the release again`, 'conflict', 409);
    if (s.stableRevision !== null && s.currentRevision === s.stableRevision) {
      throw new UserError(`rollout ${r.name} has no release in progress — nothing to ${verb}`, 'conflict', 409);
    }
  }

  /** Runs a state change between reconcile passes, then asks for a pass of the rollouts it changed (all when not named). */
  private async mutate<T>(fn: () => T, rollouts?: string[]): Promise<T> {
    const result = await this.reconciler.exclusive(fn);
    if (rollouts === undefined) this.reconciler.trigger();
    else for (const name of rollouts) this.reconciler.trigger(name);
    return result;
  }

  private async act(
    name: string,
    by: Actor,
    change: (r: RolloutRecord, s: RolloutStatus) => { reason: string; message: string; type?: 'Normal' | 'Warning' },
  ): Promise<void> {
    await this.mutate(() => {
      const r = this.record(name);
      const s = structuredClone(r.status);
      const e = change(r, s);
      const now = this.clock.now();
      s.updatedAt = now;
      this.store.transaction(() => {
        this.store.saveStatus(name, s);
        this.store.appendEvent(name, { type: e.type ?? 'Normal', reason: e.reason, message: e.message, revision: s.currentRevision }, by.actor, now);
      });
    }, [name]);
  }

  /**
   * Listen addresses of every stored rollout: read from the store once, then kept by apply
   * and delete (the only writers of a spec), so an apply costs no copy of every rollout.
   */
  private listens: Map<string, string[]> | undefined;
  private listenIndex(): Map<string, string[]> {
    this.listens ??= new Map(this.store.listRollouts().map((r) => [r.name, listenAddresses(r.spec)]));
    return this.listens;
  }

  /**
   * Listen addresses of `doc` that another rollout's socket already holds: the same
   * address, or a wildcard and a specific address on the same port (the data plane could
   * open only one of them). Rollouts applied together were checked within the file.
   */
  private checkListenConflicts(doc: LoadedRollout, together: Set<string>): void {
    const mine = listenAddresses(doc.spec);
    for (const [other, addresses] of this.listenIndex()) {
      if (other === doc.spec.name || together.has(other)) continue;
      for (const theirs of addresses) {
        const clash = mine.find((a) => sameSocket(a, theirs));
        if (clash) {
          const same =
            clash === theirs
              ? `already used by rollout ${other}`
              : `on the same port as ${theirs} of rollout ${other} (a wildcard address holds every address of its port)`;
          throw new UserError(`${doc.file}:${doc.line}: rollout ${doc.spec.name}: listen address ${clash} is ${same} — pick another port`);
        }
      }
    }
  }

  /** Every listen address of `doc` must be one this machine can open (checked without opening it). */
  private async checkListenBindable(doc: LoadedRollout): Promise<void> {
    for (const address of listenAddresses(doc.spec)) {
      const why = await unbindableReason(address);
      if (why) {
        const port = address.slice(address.lastIndexOf(':') + 1);
        throw new UserError(
          `${doc.file}:${doc.line}: rollout ${doc.spec.name}: listen address ${address} cannot be opened: ${why} — use an address of this machine, e.g. 127.0.0.1:${port} or 0.0.0.0:${port}`,
        );
      }
    }
  }

  private applyOne(doc: LoadedRollout, by: Actor): ApplyResult {
    const name = doc.spec.name;
    const now = this.clock.now();
    const existing = this.store.getRollout(name);
    if (!existing) {
      this.store.putRollout({ name, spec: doc.spec, source: doc.source, status: initialStatus(1, now), createdAt: now });
      this.store.addRevision({ rollout: name, number: 1, template: doc.spec.template, hash: templateHash(doc.spec.template), createdAt: now, cause: 'apply' });
      this.store.appendEvent(
        name,
        { type: 'Normal', reason: 'Created', message: `rollout created with revision 1 (${doc.spec.template.version})`, revision: 1 },
        by.actor,
        now,
      );
      return { name, result: 'created', revision: 1 };
    }
    const specChanged = JSON.stringify(existing.spec) !== JSON.stringify(doc.spec);
    this.store.putRollout({ ...existing, spec: doc.spec, source: doc.source });
    const result = this.switchTemplate({ ...existing, spec: doc.spec }, doc.spec.template, 'apply', by);
    if (result.result === 'unchanged' && specChanged) {
      this.store.appendEvent(name, { type: 'Normal', reason: 'SpecUpdated', message: 'spec changed without a template change: same revision' }, by.actor, now);
      return { ...result, result: 'configured' };
    }
    return result;
  }

  /**
   * Point the rollout at a template: the current revision if identical, the stable one if
   * identical to it (traffic goes straight back, no steps), or a new revision.
   */
  private switchTemplate(r: RolloutRecord, template: Template, cause: string, by: Actor): ApplyResult {
    const now = this.clock.now();
    const name = r.name;
    const hash = templateHash(template);
    const revisions = this.store.listRevisions(name);
    const s = structuredClone(r.status);
    const current = revisions.find((v) => v.number === s.currentRevision);
    if (current?.hash === hash && !s.aborted) return { name, result: 'unchanged', revision: current.number };

    const stable = revisions.find((v) => v.number === s.stableRevision);
    const warm = revisions.find((v) => v.number === this.warmRevision(r));
    if (warm && warm.hash === hash) return this.switchBackToWarm(r, s, warm.number, cause, by);
    let number: number;
    if (stable && stable.hash === hash) {
      number = stable.number;
      this.store.appendEvent(
        name,
        {
          type: 'Normal',
          reason: 'BackToStable',
          message: `${cause}: template matches stable revision ${number}; traffic returns to it at once, without steps`,
          revision: number,
        },
        by.actor,
        now,
      );
    } else if (current?.hash === hash) {
      number = current.number;
      this.store.appendEvent(
        name,
        { type: 'Normal', reason: 'Retry', message: `${cause}: same template as the aborted revision ${number}; releasing it again`, revision: number },
        by.actor,
        now,
      );
    } else {
      number = Math.max(0, ...revisions.map((v) => v.number)) + 1;
      this.store.addRevision({ rollout: name, number, template, hash, createdAt: now, cause });
      this.store.appendEvent(
        name,
        {
          type: 'Normal',
          reason: 'NewRevision',
          message: `${cause}: revision ${number} (${template.version}) created; ${r.spec.strategy.type} release starts`,
          revision: number,
        },
        by.actor,
        now,
      );
    }
    s.currentRevision = number;
    resetReleaseOf(s, 'newRevision', now);
    s.variantRevisions = this.variantRevisions(r, template, s, cause, by);
    s.updatedAt = now;
    this.store.saveStatus(name, s);
    this.pruneHistory(r, s);
    return { name, result: 'configured', revision: number };
  }

  /**
   * The revision a blue-green switch left running for scaleDownDelaySeconds, while that delay
   * lasts and it still has a ready instance: the one an undo can switch straight back to.
   */
  private warmRevision(r: RolloutRecord): number | undefined {
    const s = r.status;
    const w = s.scaleDownRevision;
    if (w == null || w === s.stableRevision || s.scaleDownAt === undefined || this.clock.now() >= s.scaleDownAt) return undefined;
    return this.platform.list(r.name).some((i) => i.revision === w && i.phase === 'Ready') ? w : undefined;
  }

  /**
   * Blue-green's instant undo: the warm revision becomes stable again and takes all traffic
   * in one table swap; the revision it replaces stays warm for the delay in turn.
   */
  private switchBackToWarm(r: RolloutRecord, s: RolloutStatus, warm: number, cause: string, by: Actor): ApplyResult {
    const now = this.clock.now();
    const previous = s.stableRevision as number;
    const st = r.spec.strategy;
    const delay = st.type === 'blueGreen' ? st.scaleDownDelaySeconds : 0;
    s.currentRevision = warm;
    // A new attempt that is over at once: the warm revision is stable again.
    resetReleaseOf(s, 'newRevision', now);
    resetReleaseOf(s, 'complete', now);
    s.scaleDownRevision = delay > 0 ? previous : null;
    s.scaleDownAt = delay > 0 ? now + delay * 1000 : undefined;
    s.updatedAt = now;
    const kept = delay > 0 ? `; revision ${previous} stays up for ${delay}s` : '';
    this.store.appendEvent(
      r.name,
      {
        type: 'Normal',
        reason: 'SwitchedBack',
        message: `${cause}: revision ${warm} is still warm; all traffic switches back to it in one step${kept}`,
        revision: warm,
      },
      by.actor,
      now,
    );
    this.store.saveStatus(r.name, s);
    this.pruneHistory(r, s);
    return { name: r.name, result: 'configured', revision: warm };
  }

  /**
   * A/B tests with three or more variants: from the third on, each is the template with its
   * overrides and gets a revision of its own (a new one per release attempt of the template).
   */
  private variantRevisions(r: RolloutRecord, template: Template, s: RolloutStatus, cause: string, by: Actor): Record<string, number> | undefined {
    const st = r.spec.strategy;
    if (st.type !== 'abTest' || st.variants.length < 3 || s.stableRevision === null || s.currentRevision === s.stableRevision) return undefined;
    const now = this.clock.now();
    const out: Record<string, number> = {};
    for (const v of st.variants.slice(2)) {
      const o = v.overrides!;
      const t: Template = { ...structuredClone(template), version: o.version, env: { ...template.env, ...o.env }, ...(o.args ? { args: [...o.args] } : {}) };
      const number = Math.max(0, ...this.store.listRevisions(r.name).map((x) => x.number)) + 1;
      this.store.addRevision({
        rollout: r.name,
        number,
        template: t,
        hash: templateHash(t),
        createdAt: now,
        cause: `${cause}: A/B variant ${v.name} of revision ${s.currentRevision}`,
      });
      this.store.appendEvent(
        r.name,
        { type: 'Normal', reason: 'NewRevision', message: `${cause}: revision ${number} (${t.version}) created for A/B variant ${v.name}`, revision: number },
        by.actor,
        now,
      );
      out[v.name] = number;
    }
    return out;
  }

  private pruneHistory(r: RolloutRecord, s: RolloutStatus): void {
    const keep = new Set([s.currentRevision, s.stableRevision, s.scaleDownRevision, ...Object.values(s.variantRevisions ?? {})]);
    const old = this.store.listRevisions(r.name).filter((v) => !keep.has(v.number));
    const excess = old.length - r.spec.revisionHistoryLimit;
    for (const v of old.slice(0, Math.max(0, excess))) {
      this.store.deleteRevision(r.name, v.number);
    }
  }
}

/** What promoting a release means for each strategy, said plainly. */
function promotedFullMessage(type: RolloutSpec['strategy']['type'], revision: number, actor: string): string {
  switch (type) {
    case 'blueGreen':
      return `promoted by ${actor}: revision ${revision} is scaled to full, then takes all traffic in one switch`;
    case 'shadow':
      return `promoted by ${actor}: the shadow phase of revision ${revision} ends; it is scaled to full, then takes all traffic`;
    case 'rolling':
      return `promoted by ${actor}: revision ${revision} rolls on without batch pauses`;
    case 'recreate':
      return `promoted by ${actor}: recreate has no steps or pauses to skip; revision ${revision} goes on as before`;
    default:
      return `promote --full by ${actor}: revision ${revision} skips the remaining steps and pauses`;
  }
}

function templateRefs(spec: RolloutSpec): string[] {
  const refs: AnalysisRef[] = [];
  const st = spec.strategy;
  if (st.type === 'canary') {
    for (const step of st.steps) if ('analysis' in step) refs.push(step.analysis);
    if (st.analysis) refs.push(st.analysis);
  }
  if (st.type === 'blueGreen') {
    if (st.prePromotionAnalysis) refs.push(st.prePromotionAnalysis);
    if (st.postPromotionAnalysis) refs.push(st.postPromotionAnalysis);
  }
  if ((st.type === 'shadow' || st.type === 'abTest') && st.analysis) refs.push(st.analysis);
  return refs.flatMap((r) => r.templates.map((t) => t.templateName));
}

/** Flags a rollout names: its canary's `setFlag` steps and `spec.flags.killOnAbort`. */
export function flagRefs(spec: RolloutSpec): string[] {
  const names = [...(spec.flags?.killOnAbort ?? [])];
  const st = spec.strategy;
  if (st.type === 'canary') for (const step of st.steps) if ('setFlag' in step) names.push(step.setFlag.flag);
  return [...new Set(names)];
}

function describeSet(changes: { version?: string; env?: Record<string, string | null> }): string {
  const parts: string[] = [];
  if (changes.version !== undefined) parts.push(`version=${changes.version}`);
  // Only the key (+K set, -K removed): events are shown and sent to notifications, and an env value may be a secret.
  for (const [k, v] of Object.entries(changes.env ?? {})) parts.push(v === null ? `-${k}` : `+${k}`);
  return parts.join(' ');
}

/** A rollout in an environment gets the environment's env vars under its own (its own values win). */
function withEnvironmentEnv(docs: LoadedRollout[], environments: EnvironmentSpec[]): void {
  for (const doc of docs) {
    const env = doc.spec.environment ? environments.filter((e) => e.name === doc.spec.environment).at(-1)?.env : undefined;
    if (env && Object.keys(env).length > 0) doc.spec.template.env = { ...env, ...doc.spec.template.env };
  }
}
