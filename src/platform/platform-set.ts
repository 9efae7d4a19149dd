/**
 * The engine has one Platform; a control plane may run rollouts on several (local
 * processes and a Kubernetes cluster, `spec.platform`). PlatformSet is that one Platform:
 * each call goes to the platform of the rollout it is about (`platformOf`), and what every
 * platform reports is merged. An instance id belongs to the platform that listed or started
 * it; ids do not collide (local ids are `<rollout>-<rev>-<n>`, pods carry a random suffix),
 * and an id both claim goes to the first.
 */
import type { PlatformName } from '../core/spec.js';
import type { InstanceRef, InstanceStatus, LogChunk, Platform, ScalePlan, ScaleRequest, StopOptions } from '../core/platform.js';
import type { Template } from '../core/spec.js';
import { UserError } from '../util/errors.js';

export class PlatformSet implements Platform {
  private readonly listeners: ((instance: InstanceStatus) => void)[] = [];

  /**
   * @param platforms every platform this control plane runs, by name
   * @param platformOf which of them a rollout runs on (its spec.platform, else the control plane's default)
   */
  constructor(
    readonly platforms: ReadonlyMap<PlatformName, Platform>,
    private readonly platformOf: (rollout: string) => PlatformName,
  ) {
    for (const p of platforms.values())
      p.onChange((i) => {
        for (const l of this.listeners) l(i);
      });
  }

  /** The platform a rollout's instances run on; a one-line error if this control plane lacks it. */
  of(rollout: string): Platform {
    const name = this.platformOf(rollout);
    const platform = this.platforms.get(name);
    if (!platform)
      throw new UserError(
        `rollout ${rollout} runs on platform ${name}, which this control plane does not run (it runs ${[...this.platforms.keys()].join(', ')})`,
        'platform',
        409,
      );
    return platform;
  }

  planScale(request: ScaleRequest): ScalePlan {
    return this.of(request.rollout).planScale(request);
  }

  start(ref: InstanceRef, template: Template): Promise<InstanceStatus> {
    try {
      return this.of(ref.rollout).start(ref, template);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  stop(id: string, options?: StopOptions): Promise<void> {
    const owner = this.ownerOf(id);
    // Unknown everywhere: gone already; each platform's own stop says how it treats that.
    return (owner ?? this.platforms.values().next().value!).stop(id, options);
  }

  list(rollout?: string): InstanceStatus[] {
    return [...this.platforms.values()].flatMap((p) => p.list(rollout));
  }

  async adopt(): Promise<string[]> {
    const adopted = await Promise.all([...this.platforms.values()].map((p) => p.adopt()));
    return adopted.flat();
  }

  onChange(listener: (instance: InstanceStatus) => void): void {
    this.listeners.push(listener);
  }

  readLogs(id: string, offset: number, maxBytes: number): Promise<LogChunk> {
    const owner = this.ownerOf(id);
    if (!owner) return Promise.reject(new UserError(`no instance ${id} on any platform of this control plane`, 'not-found', 404));
    return owner.readLogs(id, offset, maxBytes);
  }

  async detach(): Promise<void> {
    await Promise.all([...this.platforms.values()].map((p) => p.detach()));
  }

  private ownerOf(id: string): Platform | undefined {
    for (const p of this.platforms.values()) if (p.list().some((i) => i.id === id)) return p;
    return undefined;
  }
}
