import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InstanceRef, InstanceStatus, LogChunk, Platform, ScalePlan, ScaleRequest } from '../../src/core/platform.js';
import type { PlatformName, Template } from '../../src/core/spec.js';
import { PlatformSet } from '../../src/platform/platform-set.js';
import { UserError } from '../../src/util/errors.js';

/** A platform that records what it was asked (an in-memory fake: this is the set's routing, not a platform). */
class Recording implements Platform {
  readonly calls: string[] = [];
  readonly instances: InstanceStatus[] = [];
  private listeners: ((i: InstanceStatus) => void)[] = [];
  constructor(readonly name: string) {}
  planScale(r: ScaleRequest): ScalePlan {
    this.calls.push(`planScale ${r.rollout}`);
    return { start: r.replicas - r.live.length, stop: [] };
  }
  async start(ref: InstanceRef, _t: Template): Promise<InstanceStatus> {
    this.calls.push(`start ${ref.id}`);
    const s: InstanceStatus = { ...ref, phase: 'Starting', host: '127.0.0.1', port: 1, startedAt: 0, restarts: 0 };
    this.instances.push(s);
    for (const l of this.listeners) l(s);
    return s;
  }
  async stop(id: string): Promise<void> {
    this.calls.push(`stop ${id}`);
  }
  list(rollout?: string): InstanceStatus[] {
    return this.instances.filter((i) => rollout === undefined || i.rollout === rollout);
  }
  async adopt(): Promise<string[]> {
    return [`${this.name}-adopted`];
  }
  onChange(l: (i: InstanceStatus) => void): void {
    this.listeners.push(l);
  }
  async readLogs(id: string): Promise<LogChunk> {
    return { text: `${this.name}:${id}`, offset: 1 };
  }
  async detach(): Promise<void> {
    this.calls.push('detach');
  }
}

describe('PlatformSet: one Platform for the engine, each rollout on its own', () => {
  const make = () => {
    const local = new Recording('local');
    const kube = new Recording('kubernetes');
    const on: Record<string, PlatformName> = { api: 'local', web: 'kubernetes' };
    const set = new PlatformSet(
      new Map<PlatformName, Platform>([
        ['local', local],
        ['kubernetes', kube],
      ]),
      (r) => on[r] ?? 'local',
    );
    return { local, kube, set };
  };
  const ref = (rollout: string, n: number): InstanceRef => ({ id: `${rollout}-1-${n}`, rollout, revision: 1, generation: 0 });

  it('sends planScale and start to the rollout’s platform, stop and readLogs to the instance’s owner', async () => {
    const { local, kube, set } = make();
    set.planScale({ rollout: 'web', live: [], replicas: 2 });
    set.planScale({ rollout: 'api', live: [], replicas: 1 });
    await set.start(ref('web', 1), { version: 'v1' } as Template);
    await set.start(ref('api', 1), { version: 'v1' } as Template);
    await set.stop('web-1-1');
    await set.stop('api-1-1');
    assert.deepEqual(kube.calls, ['planScale web', 'start web-1-1', 'stop web-1-1']);
    assert.deepEqual(local.calls, ['planScale api', 'start api-1-1', 'stop api-1-1']);
    assert.equal((await set.readLogs('web-1-1', 0, 10)).text, 'kubernetes:web-1-1');
    await assert.rejects(set.readLogs('nobody', 0, 10), /no instance nobody on any platform/);
  });

  it('merges lists, adoption and change notifications; detaches every platform', async () => {
    const { local, kube, set } = make();
    const seen: string[] = [];
    set.onChange((i) => seen.push(i.id));
    await set.start(ref('web', 1), {} as Template);
    await set.start(ref('api', 1), {} as Template);
    assert.deepEqual(seen, ['web-1-1', 'api-1-1']);
    assert.deepEqual(
      set
        .list()
        .map((i) => i.id)
        .sort(),
      ['api-1-1', 'web-1-1'],
    );
    assert.deepEqual(
      set.list('web').map((i) => i.id),
      ['web-1-1'],
    );
    assert.deepEqual((await set.adopt()).sort(), ['kubernetes-adopted', 'local-adopted']);
    await set.detach();
    assert.ok(local.calls.includes('detach') && kube.calls.includes('detach'));
  });

  it('a rollout on a platform the set lacks is a one-line refusal, not a crash', async () => {
    const local = new Recording('local');
    const set = new PlatformSet(new Map<PlatformName, Platform>([['local', local]]), () => 'kubernetes');
    assert.throws(
      () => set.planScale({ rollout: 'web', live: [], replicas: 1 }),
      (e: unknown) =>
        e instanceof UserError && /rollout web runs on platform kubernetes, which this control plane does not run \(it runs local\)/.test(e.message),
    );
    await assert.rejects(set.start(ref('web', 1), {} as Template), /does not run/);
    assert.deepEqual(local.calls, []);
  });
});
