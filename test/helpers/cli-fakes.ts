/**
 * An in-memory RolloutActions for the API and CLI tests: the engine is tested elsewhere,
 * here only the routing, auth, error mapping and rendering matter.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, type RunningApiServer } from '../../src/api/server.js';
import { writeApiInfo } from '../../src/api/token.js';
import type { AnalysisView } from '../../src/engine/actions.js';
import type { Actor, ApplyResult, RolloutActions } from '../../src/engine/actions.js';
import type { Phase, Revision, RolloutEvent, RolloutView } from '../../src/core/rollout.js';
import type { Template } from '../../src/core/spec.js';
import type { LogChunk } from '../../src/core/platform.js';
import { readLogFile } from '../../src/platform/local/log-file.js';
import { NotFoundError, UserError } from '../../src/util/errors.js';
import { demoTemplate, httpProbe } from './templates.js';

export const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);

/** The fakes' revisions hold the demo template as a user would write it (nothing runs here). */
function template(version: string): Template {
  return demoTemplate({
    version,
    command: 'node',
    args: ['server.js'],
    probes: { readiness: httpProbe('/healthz', { periodSeconds: 1 }) },
    shutdown: { drainSeconds: 5, preStopDelaySeconds: 0, terminationGracePeriodSeconds: 10 },
  });
}

function revision(rollout: string, number: number, version: string, createdAt: number): Revision {
  return { rollout, number, template: template(version), hash: `h${number}`, createdAt, cause: 'apply' };
}

/** Where the fake instances of a view write: `<logDir>/<instance id>.log` (FakeActions.logs reads them). */
const logDirs = new WeakMap<RolloutView, string>();

/** A canary rollout half way: v1 stable at 80%, v2 canary at 20%, paused at step 2 of 4. */
export function canaryView(name = 'web', phase: Phase = 'Paused', logDir = '/nonexistent'): RolloutView {
  const events: RolloutEvent[] = [
    { id: 1, rollout: name, at: NOW - 600_000, type: 'Normal', reason: 'RevisionCreated', message: 'revision 1 (v1)', revision: 1, actor: 'alice@box' },
    { id: 2, rollout: name, at: NOW - 60_000, type: 'Normal', reason: 'RevisionCreated', message: 'revision 2 (v2)', revision: 2, actor: 'alice@box' },
    { id: 3, rollout: name, at: NOW - 30_000, type: 'Normal', reason: 'WeightSet', message: 'canary weight 20%', revision: 2, actor: 'engine' },
  ];
  const view: RolloutView = {
    name,
    spec: {
      name,
      labels: {},
      replicas: 3,
      minReadySeconds: 0,
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      template: template('v2'),
      traffic: { listen: '127.0.0.1:8080', balancer: 'round-robin', routes: [] },
      strategy: {
        type: 'canary',
        steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { pause: { duration: 60 } }],
        maxSurge: { percent: 25 },
        maxUnavailable: { count: 0 },
      },
      hooks: { webhooks: [], exec: [] },
      smokeTests: [],
      notifications: [],
    },
    source: `apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: ${name}\n`,
    status: {
      phase,
      reason: phase === 'Paused' ? 'CanaryPauseStep' : phase === 'Degraded' ? 'ProgressDeadlineExceeded' : '',
      message: phase === 'Paused' ? 'waiting for `sluice promote`' : '',
      stableRevision: 1,
      currentRevision: 2,
      stepIndex: 1,
      pauses: [],
      aborted: false,
      promoteFull: false,
      progressAt: NOW - 30_000,
      activeRevision: null,
      weights: [
        { revision: 1, weight: 80 },
        { revision: 2, weight: 20 },
      ],
      restartGeneration: 0,
      updatedAt: NOW - 30_000,
    },
    createdAt: NOW - 600_000,
    revisions: [revision(name, 1, 'v1', NOW - 600_000), revision(name, 2, 'v2', NOW - 60_000)],
    instances: [
      ...[1, 2, 3].map((n) => ({
        id: `${name}-1-${n}`,
        rollout: name,
        revision: 1,
        generation: 0,
        phase: 'Ready' as const,
        host: '127.0.0.1',
        pid: 1000 + n,
        port: 40000 + n,
        startedAt: NOW - 590_000,
        readySince: NOW - 589_000,
        restarts: 0,
      })),
      {
        id: `${name}-2-1`,
        rollout: name,
        revision: 2,
        generation: 0,
        phase: 'Ready' as const,
        host: '127.0.0.1',
        pid: 2001,
        port: 40011,
        startedAt: NOW - 50_000,
        readySince: NOW - 45_000,
        restarts: 1,
      },
    ],
    events,
  };
  logDirs.set(view, logDir);
  return view;
}

export interface Call {
  method: string;
  args: unknown[];
}

/** Answers from a map of views; records every call. */
export class FakeActions implements RolloutActions {
  readonly calls: Call[] = [];
  readonly views = new Map<string, RolloutView>();

  constructor(views: RolloutView[] = []) {
    for (const v of views) this.views.set(v.name, v);
  }

  private view(name: string): RolloutView {
    const v = this.views.get(name);
    if (!v) throw new NotFoundError(`rollout "${name}" not found — see \`sluice get rollouts\``);
    return v;
  }
  private record(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args });
  }

  async apply(yamlText: string, file: string, by: Actor): Promise<ApplyResult[]> {
    this.record('apply', yamlText, file, by);
    const m = /name:\s*(\S+)/.exec(yamlText);
    if (!m) throw new UserError(`${file}:1:1: metadata.name: missing required field — add metadata.name`);
    return [{ name: m[1]!, result: this.views.has(m[1]!) ? 'configured' : 'created', revision: 3 }];
  }
  async list(): Promise<RolloutView[]> {
    return [...this.views.values()];
  }
  async get(name: string): Promise<RolloutView> {
    return this.view(name);
  }
  async history(name: string): Promise<Revision[]> {
    return this.view(name).revisions;
  }
  async events(name: string, options: { afterId?: number; limit?: number } = {}): Promise<RolloutEvent[]> {
    this.record('events', name, options);
    const after = options.afterId ?? 0;
    return this.view(name)
      .events.filter((e) => e.id > after)
      .slice(0, options.limit ?? Infinity);
  }
  async promote(name: string, options: { full?: boolean; variant?: string }, by: Actor): Promise<void> {
    this.view(name);
    this.record('promote', name, options, by);
  }
  async abort(name: string, by: Actor): Promise<void> {
    this.view(name);
    this.record('abort', name, by);
  }
  async retry(name: string, by: Actor): Promise<void> {
    this.view(name);
    this.record('retry', name, by);
  }
  async pause(name: string, by: Actor): Promise<void> {
    this.view(name);
    this.record('pause', name, by);
  }
  async resume(name: string, by: Actor): Promise<void> {
    this.view(name);
    this.record('resume', name, by);
  }
  async stopTraffic(name: string, by: Actor): Promise<void> {
    this.view(name);
    this.record('stopTraffic', name, by);
  }
  async pauseTraffic(name: string, options: { timeoutSeconds?: number }, by: Actor): Promise<void> {
    this.view(name);
    this.record('pauseTraffic', name, options, by);
  }
  async resumeTraffic(name: string, by: Actor): Promise<void> {
    this.view(name);
    this.record('resumeTraffic', name, by);
  }
  async undo(name: string, options: { toRevision?: number }, by: Actor): Promise<ApplyResult> {
    this.view(name);
    this.record('undo', name, options, by);
    return { name, result: 'configured', revision: 3 };
  }
  async analysis(name: string): Promise<AnalysisView[]> {
    this.view(name);
    return [];
  }
  async approve(name: string, by: Actor): Promise<number> {
    this.view(name);
    this.record('approve', name, by);
    return 1;
  }
  async logs(name: string, instanceId: string, offset: number, maxBytes: number): Promise<LogChunk> {
    const view = this.view(name);
    this.record('logs', name, instanceId, offset, maxBytes);
    if (!view.instances.some((i) => i.id === instanceId)) throw new NotFoundError(`rollout ${name} has no instance ${instanceId}`);
    return readLogFile(join(logDirs.get(view) ?? '/nonexistent', `${instanceId}.log`), offset, maxBytes);
  }
  async restart(name: string, by: Actor): Promise<void> {
    this.view(name);
    this.record('restart', name, by);
  }
  async set(name: string, changes: { version?: string; env?: Record<string, string | null> }, by: Actor): Promise<ApplyResult> {
    this.view(name);
    this.record('set', name, changes, by);
    return { name, result: 'configured', revision: 3 };
  }
  async delete(name: string, by: Actor): Promise<void> {
    this.view(name);
    this.record('delete', name, by);
    this.views.delete(name);
  }
}

export const TEST_TOKEN = 'a'.repeat(64);

export interface FakeApi {
  server: RunningApiServer;
  actions: FakeActions;
  stateDir: string;
}

/** The real API server over FakeActions, with api.json and token in a fresh state dir. */
export async function startFakeApi(views: RolloutView[] = [], shutdown?: (o: { everything: boolean }) => void): Promise<FakeApi> {
  const actions = new FakeActions(views);
  const server = await startApiServer({ listen: '127.0.0.1:0', token: TEST_TOKEN, actions, shutdown });
  const stateDir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(stateDir, 'token'), TEST_TOKEN + '\n', { mode: 0o600 });
  writeApiInfo(stateDir, { address: server.address, pid: process.pid });
  return { server, actions, stateDir };
}
