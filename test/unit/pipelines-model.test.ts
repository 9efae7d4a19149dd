import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { makeSim, SIM_APP } from '../helpers/engine-sim.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { PipelineRunner } from '../../src/engine/pipelines/runner.js';
import { ReleaseController } from '../../src/engine/pipelines/releases.js';
import type { Principal, Role } from '../../src/core/auth.js';
import type { ApprovalRecord } from '../../src/core/pipeline.js';
import { UserError } from '../../src/util/errors.js';

/**
 * Model-based test of pipelines (issue 15): random sequences of releases, approvals,
 * rejections, withdrawals, token revocations, manual promotes, checklist ticks, clock jumps
 * and control-plane restarts, on the engine sim with the real Controller, ReleaseController
 * and PipelineRunner. After every step: no release ever entered a stage without every
 * blocking approval standing (by a token valid then, never the creator's), without a standing
 * rejection, before its soak in the stage before it ended, or outside the window — each
 * checked against the store's records with arithmetic of this test's own, not the gate's.
 * Seeded: PIPELINES_MODEL_SEED replays.
 */

const RUNS = Number(process.env.PIPELINES_MODEL_RUNS ?? 80);
const SEED = Number(process.env.PIPELINES_MODEL_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`pipelines-model: seed ${SEED}, ${RUNS} sequences (replay: PIPELINES_MODEL_SEED=${SEED})`);

const HOUR = 3600_000;
const SOAK_S = 300;
/** Production opens 22:00–23:00 in a fixed UTC+2 zone (Etc/GMT-2): 20:00–21:00 UTC. */
const OPEN_UTC_HOUR = 20;

const PIPELINE = `apiVersion: sluice.dev/v1alpha1
kind: Pipeline
metadata: {name: shop}
spec:
  services: [api]
  stages:
    - name: staging
      environment: staging
      requiredSoakTime: ${SOAK_S}s
    - name: production
      environment: production
      approvals:
        - {role: qa}
        - {role: tech-lead}
        - {role: devops, count: 2}
        - {role: po, blocking: false}
      windows:
        - {days: [mon, tue, wed, thu, fri, sat, sun], start: "22:00", end: "23:00", timeZone: Etc/GMT-2}
      checklist:
        - {name: team on standby}
`;

function rollout(env: string, port: number): string {
  return rolloutManifest({ ...SIM_APP, name: `api-${env}`, version: 'v0', replicas: 1, listen: `127.0.0.1:${port}`, strategy: '    rolling: {}\n' }).replace(
    '  name: api-' + env + '\n',
    `  name: api-${env}\n  environment: ${env}\n  service: api\n`,
  );
}

/** Users and the tokens they hold; `revoked` is when (if) a token was revoked. */
const USERS: { user: string; roles: Role[] }[] = [
  { user: 'dev', roles: ['deployer', 'approver:qa'] },
  { user: 'qa1', roles: ['approver:qa'] },
  { user: 'lead', roles: ['approver:tech-lead'] },
  { user: 'ops1', roles: ['approver:devops'] },
  { user: 'ops2', roles: ['approver:devops'] },
  { user: 'ops3', roles: ['approver:devops', 'approver:tech-lead'] },
  { user: 'po', roles: ['approver:po'] },
];

type Action =
  | { kind: 'release' }
  | { kind: 'approve' | 'reject' | 'withdraw'; user: number; role: number }
  | { kind: 'revoke'; user: number }
  | { kind: 'approveAll' }
  | { kind: 'promote' }
  | { kind: 'check' }
  | { kind: 'jump'; ms: number }
  | { kind: 'until'; hour: number; minute: number }
  | { kind: 'restart' };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ kind: 'release' as const }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('approve' as const), user: fc.nat(USERS.length - 1), role: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reject' as const), user: fc.nat(USERS.length - 1), role: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('withdraw' as const), user: fc.nat(USERS.length - 1), role: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('revoke' as const), user: fc.nat(USERS.length - 1) }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'approveAll' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'promote' as const }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'check' as const }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('jump' as const), ms: fc.integer({ min: 1000, max: 8 * HOUR }) }) },
  // Next time the UTC clock reads hour:minute, around the window (20:00–21:00 UTC) and its edges.
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('until' as const), hour: fc.integer({ min: 19, max: 21 }), minute: fc.nat(59) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
);

test('pipelines model: no release enters a stage without its blocking approvals, its soak and inside its window', async () => {
  const entries = new Set<string>();
  const reasons = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(fc.array(action, { minLength: 4, maxLength: 20 }), async (actions) => {
      try {
        await sequence(actions);
      } catch (err) {
        // fast-check keeps the failure as the error's cause, which the test runner does not print.
        console.log(`pipelines-model failure: ${(err as Error).stack}`);
        throw err;
      }
    }),
    { numRuns: RUNS, seed: SEED, ...(process.env.PIPELINES_MODEL_PATH ? { path: process.env.PIPELINES_MODEL_PATH, endOnFailure: true } : {}) },
  );
  async function sequence(actions: Action[]): Promise<void> {
    const sim = makeSim(100);
    // Monday 2026-11-30 08:00 UTC, outside the window.
    sim.clock.advanceTo(Date.parse('2026-11-30T08:00:00Z'));
    const revokedAt = new Map<string, number>();
    const tokenValid = (id: string | undefined) => id === undefined || revokedAt.get(id) === undefined;
    const principal = (i: number): Principal => ({ user: USERS[i]!.user, roles: USERS[i]!.roles, tokenId: `t-${USERS[i]!.user}` });
    const deployer = principal(0);
    let runner = new PipelineRunner({ store: sim.store, clock: sim.clock, rollouts: sim.controller, tokenValid });
    const releases = () => new ReleaseController(sim.store, sim.clock);
    await sim.controller.apply(`${rollout('staging', 18101)}---\n${rollout('production', 18102)}---\n${PIPELINE}`, 'shop.yaml', sim.by);
    await sim.run(2000);
    let n = 0;
    const settle = async (ms: number) => {
      const end = sim.clock.now() + ms;
      // Big jumps in one go (windows and soaks are about wall time), then small steps so the rollouts settle.
      if (ms > 5000) sim.clock.advanceTo(end - 3000);
      while (sim.clock.now() < end) {
        await sim.run(Math.min(500, end - sim.clock.now()), 250);
        await runner.tick();
        check();
      }
    };
    const check = () => {
      const store = sim.store;
      const events = store.listReleaseEvents().filter((e) => e.reason === 'Entered');
      for (const e of events) {
        const release = store.getRelease(e.release)!;
        const T = e.at;
        if (e.stage === 'production') {
          entries.add(`${SEED}/${e.release}/${e.at}`);
          // Window: 20:00–21:00 UTC.
          assert.equal(
            new Date(T).getUTCHours(),
            OPEN_UTC_HOUR,
            `release ${release.id} entered production at ${new Date(T).toISOString()}, outside 22:00–23:00 UTC+2`,
          );
          const staging = store.listStageStates(release.id).find((s) => s.stage === 'staging')!;
          assert.ok(
            staging.healthyAt !== undefined && staging.healthyAt + SOAK_S * 1000 <= T,
            `release ${release.id} entered production before its soak in staging ended`,
          );
          const standing = store
            .listApprovals(release.id)
            .filter(
              (a: ApprovalRecord) =>
                a.stage === 'production' &&
                a.at <= T &&
                (a.withdrawnAt === undefined || a.withdrawnAt > T) &&
                (a.tokenId === undefined || (revokedAt.get(a.tokenId) ?? Infinity) > T),
            );
          assert.ok(!standing.some((a) => a.decision === 'reject'), `release ${release.id} entered production with a standing rejection`);
          const users = (role: string) =>
            new Set(standing.filter((a) => a.decision === 'approve' && a.role === role && a.user !== release.createdBy).map((a) => a.user)).size;
          assert.ok(
            users('qa') >= 1 && users('tech-lead') >= 1 && users('devops') >= 2,
            `release ${release.id} entered production at ${T} without qa, tech-lead and two devops approvals: ${JSON.stringify(store.listApprovals(release.id))} revoked ${JSON.stringify([...revokedAt])}`,
          );
          const stateNow = store.listStageStates(release.id).find((s) => s.stage === 'production')!;
          assert.ok(stateNow.checked['team on standby'] !== undefined && stateNow.checked['team on standby'].at <= T, 'entered with the checklist incomplete');
        }
      }
      // One entry per release and stage.
      const keys = events.map((e) => `${e.release}/${e.stage}`);
      assert.equal(new Set(keys).size, keys.length, `a release entered a stage twice: ${keys.join(' ')}`);
    };
    // Every sequence starts with a release and ends trying to bring the latest one in (every
    // approval, the checklist, into the window), so most sequences check an entry.
    const finale: Action[] = [{ kind: 'approveAll' }, { kind: 'check' }, { kind: 'until', hour: 20, minute: 30 }];
    for (const a of [{ kind: 'release' } as Action, ...actions, ...finale]) {
      const latest = sim.store.listReleases().at(-1);
      try {
        switch (a.kind) {
          case 'release':
            releases().create({ version: `v1.${n++}`, commit: 'abcdef12' }, deployer);
            break;
          case 'approve':
          case 'reject':
          case 'withdraw': {
            if (!latest) break;
            const p = principal(a.user);
            const held = p.roles.filter((r) => r.startsWith('approver:')).map((r) => r.slice(9));
            const role = held[a.role % held.length];
            if (a.kind === 'withdraw') releases().withdraw(latest.id, 'production', p);
            else releases().decide(latest.id, 'production', a.kind, { ...(role ? { role } : {}) }, p);
            break;
          }
          case 'approveAll':
            // Every approver but the creator, each in its own try: most sequences then reach the window.
            for (const [i, u] of USERS.entries()) {
              if (!latest || i === 0) continue;
              for (const r of u.roles.filter((x) => x.startsWith('approver:'))) {
                try {
                  releases().decide(latest.id, 'production', 'approve', { role: r.slice(9) }, principal(i));
                } catch (err) {
                  if (!(err instanceof UserError)) throw err;
                }
              }
            }
            break;
          case 'revoke':
            // A millisecond on, so a revocation is never at the instant of an entry just made (their order would be unknowable).
            sim.clock.advanceTo(sim.clock.now() + 1);
            if (!revokedAt.has(`t-${USERS[a.user]!.user}`)) revokedAt.set(`t-${USERS[a.user]!.user}`, sim.clock.now());
            break;
          case 'promote':
            if (latest) releases().promote(latest.id, 'production', deployer);
            break;
          case 'check':
            if (latest) releases().check(latest.id, 'production', 'team on standby', deployer);
            break;
          case 'jump':
            await settle(a.ms);
            break;
          case 'until': {
            const now = new Date(sim.clock.now());
            let at = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), a.hour, a.minute);
            if (at <= sim.clock.now()) at += 24 * HOUR;
            await settle(at - sim.clock.now());
            break;
          }
          case 'restart':
            await runner.stop();
            await sim.restartControlPlane();
            runner = new PipelineRunner({ store: sim.store, clock: sim.clock, rollouts: sim.controller, tokenValid });
            break;
        }
      } catch (err) {
        // Refused actions (self-approval, a second approval, past the gate…) are one-line UserErrors that change nothing.
        if (!(err instanceof UserError)) throw err;
        assert.doesNotMatch(err.message, /\n/);
      }
      await settle(500);
    }
    await runner.stop();
    for (const st of sim.store.listStageStates()) if (st.stage === 'production') reasons.set(st.reason, (reasons.get(st.reason) ?? 0) + 1);
  }
  console.log(
    `pipelines-model: ${entries.size} production entries checked; production states at the end: ${[...reasons].map(([r, n]) => `${r} ${n}`).join(', ')}`,
  );
});
