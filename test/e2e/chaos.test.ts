/**
 * Chaos under load (issue 9, generative tests): three rollouts at once (rolling with
 * maxUnavailable 0, blue-green, canary with steps), each on its own listener under an
 * open-loop load, while a seeded random schedule applies good, crash-looping and
 * never-ready versions, promotes, aborts, retries, undoes, pauses, resumes, restarts,
 * kill -9s the control plane (then `sluice up -d`), restarts the router, SIGKILLs
 * instances, and kills, restores and sets a feature flag that an OFREP client evaluates
 * 20 times a second. It must lose no request, no evaluation and no state: every rollout,
 * revision and event the control plane reported is still there after the schedule and after
 * a final restart, and the flag is what its last successful actions made it.
 *
 * Not part of `npm test` (it takes about three minutes): `npm run test:chaos`, which
 * `.ci/run` calls; replay a run with `SLUICE_CHAOS_SEED=<seed> npm run test:chaos`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoadGenerator, type Sample } from '../helpers/load.js';
import { freePort } from '../helpers/ports.js';
import { SluiceUnderTest } from '../helpers/sluice.js';
import {
  actionTable,
  CHAOS_FLAG,
  chaosFlagManifest,
  chaosManifest,
  flagPercentage,
  chaosSeed,
  describeAction,
  formatSchedule,
  makeSchedule,
  versionBehaviour,
  type ActionRow,
  type ChaosAction,
  type ChaosRollout,
} from '../helpers/chaos.js';
import { downDetached, kill9ControlPlane, upDetached } from '../helpers/chaos-control-plane.js';
import { lostBetween, missingPromises, snapshot, type PromisedRevision, type StateSnapshot } from '../helpers/chaos-state.js';
import type { RolloutView } from '../../src/core/rollout.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { pollFlag } from '../helpers/ofrep.js';

/** Per listener; three listeners make ≥ 200 req/s in all. */
const RATE = 70;
const SCHEDULE_MS = 120_000;
const ACTIONS = 28;
const FINAL = 'vfinal';
/** CLI failures that are not a refusal of the action but the control plane failing to answer. */
const BROKEN_CLI = /ECONNRESET|ECONNREFUSED|EPIPE|socket hang up|timed out|timeout|internal|did not answer|not running|heap|stack/i;

interface Tagged extends Sample {
  listener: string;
  /** ms after the schedule started. */
  t: number;
}

const failed = (s: Sample): boolean => s.error !== undefined || s.status < 200 || s.status >= 300;

test('chaos under load: a seeded schedule of releases and failures loses no request and no state', { timeout: 330_000 }, async () => {
  const seed = chaosSeed();
  console.log(`chaos seed ${seed}`);
  const sluice = await SluiceUnderTest.start();
  const problems: string[] = [];
  const loads: { name: string; gen: LoadGenerator; base: number }[] = [];
  let observing = true;
  let flagPoller: ReturnType<typeof pollFlag> | undefined;
  let observer: Promise<void> = Promise.resolve();
  try {
    const rollouts: ChaosRollout[] = [
      { name: 'chaos-rolling', port: await freePort(), replicas: 3, strategy: `    rolling: {maxSurge: 1, maxUnavailable: 0}\n` },
      {
        name: 'chaos-bluegreen',
        port: await freePort(),
        replicas: 2,
        strategy: `    blueGreen: {previewListen: "127.0.0.1:${await freePort()}", autoPromotionEnabled: false, scaleDownDelaySeconds: 3}\n`,
      },
      {
        name: 'chaos-canary',
        port: await freePort(),
        replicas: 2,
        strategy: `    canary:\n      canaryListen: 127.0.0.1:${await freePort()}\n      steps: [{setWeight: 30}, {pause: {}}, {setWeight: 60}, {pause: {duration: 3s}}]\n`,
      },
    ];
    const byName = new Map(rollouts.map((r) => [r.name, r]));
    const schedule = makeSchedule(
      seed,
      rollouts.map((r) => r.name),
      ACTIONS,
      SCHEDULE_MS,
    );
    console.log(formatSchedule(seed, schedule));

    const promised: PromisedRevision[] = [];
    const actionsDone = new Map(rollouts.map((r) => [r.name, 0]));
    const beforeKills: StateSnapshot[] = [];
    /** Versions each rollout has had as its stable revision: what undo may go back to. */
    const everStable = new Map(rollouts.map((r) => [r.name, new Set<string>()]));
    const noteStable = (v: RolloutView): void => {
      const stable = v.revisions.find((x) => x.number === v.status.stableRevision);
      if (stable) everStable.get(v.name)?.add(stable.template.version);
    };

    const cli = async (args: string[], what: string): Promise<{ ok: boolean; out: string }> => {
      const r = await sluice.cli(args);
      if (r.code === 0) return { ok: true, out: r.stdout.trim().split('\n')[0] ?? '' };
      const msg = (r.stderr.trim() || r.stdout.trim()).split('\n')[0] ?? `exit ${r.code}`;
      if (BROKEN_CLI.test(msg)) problems.push(`${what}: sluice ${args.join(' ')} failed: ${msg}`);
      return { ok: false, out: `refused: ${msg.replace(/^error: /, '')}` };
    };
    const applyVersion = async (r: ChaosRollout, version: string, what: string): Promise<string> => {
      const file = join(sluice.dir, `${r.name}.yaml`);
      writeFileSync(file, chaosManifest(r, version));
      const res = await cli(['apply', '-f', file], what);
      const m = /(created|configured|unchanged) \(revision (\d+)\)/.exec(res.out);
      if (res.ok && m === null) problems.push(`${what}: unexpected apply output: ${res.out}`);
      if (m !== null && m[1] !== 'unchanged') {
        promised.push({ rollout: r.name, revision: Number(m[2]), version, by: what });
        actionsDone.set(r.name, actionsDone.get(r.name)! + 1);
      }
      return res.out;
    };
    const act = async (a: ChaosAction, args: string[]): Promise<string> => {
      const res = await cli([...args, a.target!], `#${a.index} ${describeAction(a)}`);
      if (res.ok) actionsDone.set(a.target!, actionsDone.get(a.target!)! + 1);
      return res.out;
    };

    /** What the flag must be after the schedule: the outcome of the last kill/restore and set that succeeded. */
    const flagExpected = { killed: false, percentage: 50 };
    const flagAction = async (a: ChaosAction, args: string[], then: () => void): Promise<string> => {
      const res = await cli(['flags', ...args], `#${a.index} ${describeAction(a)}`);
      if (res.ok) then();
      return res.out;
    };

    async function run(a: ChaosAction): Promise<string> {
      const what = `#${a.index} ${describeAction(a)}`;
      const r = a.target === undefined ? undefined : byName.get(a.target)!;
      switch (a.kind) {
        case 'apply-good':
        case 'apply-crash-loop':
        case 'apply-never-ready':
          return applyVersion(r!, a.version!, what);
        case 'promote':
          return act(a, a.pick < 0.3 ? ['promote', '--full'] : ['promote']);
        case 'abort':
        case 'retry':
        case 'pause':
        case 'resume':
        case 'restart':
          return act(a, [a.kind]);
        case 'undo': {
          noteStable(await sluice.get(r!.name));
          const res = await cli(['undo', r!.name], what);
          const m = /\(revision (\d+)\)/.exec(res.out);
          if (!res.ok || m === null) return res.out;
          actionsDone.set(r!.name, actionsDone.get(r!.name)! + 1);
          promised.push({ rollout: r!.name, revision: Number(m[1]), by: what });
          const view = await sluice.get(r!.name);
          const target = view.revisions.find((x) => x.number === Number(m[1]));
          const stable = [...everStable.get(r!.name)!];
          if (target === undefined) problems.push(`${what}: undo reported revision ${m[1]}, not in the history`);
          else if (!stable.includes(target.template.version)) {
            problems.push(
              `${what}: undo chose revision ${m[1]} (${target.template.version}), a template that was never stable (stable ones: ${stable.join(', ')})`,
            );
          }
          return `${res.out} → ${target?.template.version}`;
        }
        case 'kill-9-control-plane': {
          beforeKills.push(await snapshot(sluice.client()));
          const pid = await kill9ControlPlane(sluice);
          const downMs = 500 + Math.round(a.pick * 2500);
          await sleep(downMs);
          const upAt = Date.now();
          await upDetached(sluice);
          const upMs = Date.now() - upAt;
          problems.push(...lostBetween(beforeKills.at(-1)!, await snapshot(sluice.client()), `${what}, after sluice up -d`));
          return `pid ${pid} killed, down ${(downMs / 1000).toFixed(1)} s, then up -d answered in ${(upMs / 1000).toFixed(1)} s`;
        }
        case 'router-restart': {
          const res = await cli(['router', 'restart'], what);
          if (!res.ok) problems.push(`${what}: ${res.out}`);
          return res.out;
        }
        case 'flag-kill':
          return flagAction(a, ['kill', CHAOS_FLAG, '--reason', `chaos #${a.index}`], () => (flagExpected.killed = true));
        case 'flag-restore':
          return flagAction(a, ['restore', CHAOS_FLAG, '--reason', `chaos #${a.index}`], () => (flagExpected.killed = false));
        case 'flag-set':
          return flagAction(a, ['set', CHAOS_FLAG, '--percentage', String(flagPercentage(a))], () => (flagExpected.percentage = flagPercentage(a)));
        case 'kill-instance': {
          const view = await sluice.get(r!.name);
          const ready = view.instances.filter((i) => i.phase === 'Ready' && i.pid !== undefined).sort((x, y) => x.id.localeCompare(y.id));
          if (ready.length === 0) return 'no ready instance';
          const victim = ready[Math.floor(a.pick * ready.length)];
          process.kill(victim.pid!, 'SIGKILL');
          return `SIGKILL ${victim.id} (rev ${victim.revision}, pid ${victim.pid})`;
        }
      }
    }

    // v1 everywhere, then load on every main listener for the whole schedule.
    for (const r of rollouts) {
      const out = await applyVersion(r, 'v1', 'initial apply');
      assert.match(out, /created \(revision 1\)/, `initial apply of ${r.name}: ${out}`);
    }
    for (const r of rollouts)
      await waitFor(
        sluice.rollout(r.name, (v) => v.status.phase === 'Healthy' && v.instances.filter((i) => i.phase === 'Ready').length === r.replicas),
        { timeoutMs: 60_000, what: 'v1 healthy' },
      );
    const flagsFile = join(sluice.dir, 'flags.yaml');
    writeFileSync(flagsFile, chaosFlagManifest());
    const applied = await sluice.cli(['apply', '-f', flagsFile]);
    assert.equal(applied.code, 0, `apply of the chaos flag: ${applied.stderr}`);
    const clientToken = (await sluice.cli(['flags', 'token'])).stdout.trim();
    const ofrepBase = `http://127.0.0.1:${sluice.flagsPort}`;
    await waitFor(
      async () =>
        (
          await fetch(`${ofrepBase}/ofrep/v1/evaluate/flags/${CHAOS_FLAG}`, {
            method: 'POST',
            headers: { authorization: `Bearer ${clientToken}`, 'content-type': 'application/json' },
            body: '{"context":{"targetingKey":"poller"}}',
          })
        ).status === 200 || undefined,
      { timeoutMs: 10_000, what: 'the chaos flag served over OFREP' },
    );
    // Every evaluation through the whole schedule (kill -9s, router restarts) must answer.
    flagPoller = pollFlag(ofrepBase, clientToken, CHAOS_FLAG, 50);
    for (const r of rollouts) {
      const gen = new LoadGenerator(r.port, RATE, 200);
      loads.push({ name: r.name, gen, base: performance.now() - gen.now() });
    }
    const t0 = performance.now();
    observer = (async () => {
      while (observing) {
        try {
          for (const v of await sluice.client().list()) noteStable(v);
        } catch {
          // the control plane is down for a moment (kill -9): look again later
        }
        await sleep(300);
      }
    })();

    const rows: ActionRow[] = [];
    for (const a of schedule) {
      const wait = t0 + a.at - performance.now();
      if (wait > 0) await sleep(wait);
      const startedAt = performance.now() - t0;
      let result: string;
      try {
        result = await run(a);
      } catch (err) {
        result = `FAILED: ${(err as Error).message.split('\n')[0]}`;
        problems.push(`#${a.index} ${describeAction(a)}: ${(err as Error).message.split('\n')[0]}`);
      }
      rows.push({ action: a, startedAt, tookMs: performance.now() - t0 - startedAt, result, sent: 0, failed: 0, over200ms: 0, slow: 0, maxMs: 0 });
    }

    // Converge: a good version on every rollout, pushed through pauses and aborts.
    const converge: ChaosAction = { index: schedule.length, at: 0, kind: 'apply-good', target: 'every rollout', version: FINAL, pick: 0 };
    const convergeAt = performance.now() - t0;
    const finalOn = (r: ChaosRollout) => (v: RolloutView) =>
      v.status.phase === 'Healthy' &&
      v.revisions.find((x) => x.number === v.status.stableRevision)?.template.version === FINAL &&
      v.instances.filter((i) => i.phase !== 'Stopped').every((i) => i.revision === v.status.stableRevision) &&
      v.instances.filter((i) => i.phase === 'Ready').length === r.replicas;
    const converged = await Promise.all(
      rollouts.map(async (r) => {
        const what = `final apply of ${FINAL} to ${r.name}`;
        await cli(['resume', r.name], what);
        await applyVersion(r, FINAL, what);
        const until = Date.now() + 60_000;
        for (;;) {
          const v = await sluice.get(r.name);
          if (finalOn(r)(v)) return true;
          if (Date.now() > until) {
            problems.push(
              `${r.name} did not become Healthy on ${FINAL} within 60 s after the schedule: ${v.status.phase} (${v.status.reason}) ${v.status.message}`,
            );
            return false;
          }
          if (v.status.aborted) await cli(['retry', r.name], what);
          else if (v.status.phase === 'Paused') await cli(['promote', '--full', r.name], what);
          await sleep(1000);
        }
      }),
    );
    rows.push({
      action: converge,
      startedAt: convergeAt,
      tookMs: performance.now() - t0 - convergeAt,
      result: converged.every(Boolean) ? 'all Healthy on vfinal' : 'NOT converged',
      sent: 0,
      failed: 0,
      over200ms: 0,
      slow: 0,
      maxMs: 0,
    });
    await sleep(1500);
    observing = false;
    const evaluations = await flagPoller!.stop();
    const badEvaluations = evaluations.filter((e) => e.status !== 200);
    if (badEvaluations.length > 0) {
      problems.push(
        `${badEvaluations.length} of ${evaluations.length} OFREP evaluation(s) of ${CHAOS_FLAG} failed: ${badEvaluations
          .slice(0, 5)
          .map((e) => `${e.status}${e.error ? ` ${e.error}` : ''} at t+${((e.at - Date.now() + performance.now() - t0) / 1000).toFixed(1)}s`)
          .join('; ')}`,
      );
    }
    const flagView = await sluice.cli(['flags', 'get', CHAOS_FLAG, '-o', 'json']);
    const flagState = flagView.code === 0 ? (JSON.parse(flagView.stdout) as { state: { killed: boolean; percentage?: number } }).state : undefined;
    if (flagState === undefined) problems.push(`sluice flags get ${CHAOS_FLAG} failed: ${flagView.stderr.trim()}`);
    else if (flagState.killed !== flagExpected.killed || (flagState.percentage ?? 50) !== flagExpected.percentage) {
      problems.push(`${CHAOS_FLAG} is ${JSON.stringify(flagState)} after the schedule; its last successful actions made it ${JSON.stringify(flagExpected)}`);
    }
    const last = evaluations.at(-1);
    if (flagExpected.killed && last?.value !== false) problems.push(`${CHAOS_FLAG} is killed but its last evaluation served ${JSON.stringify(last?.value)}`);
    console.log(`chaos: ${evaluations.length} OFREP evaluations of ${CHAOS_FLAG}, ${badEvaluations.length} failed; flag ${JSON.stringify(flagState)}`);

    const samples: Tagged[] = [];
    for (const l of loads) {
      const report = await l.gen.stop();
      samples.push(...report.samples.map((s) => ({ ...s, listener: l.name, t: l.base + s.sentAt - t0 })));
    }
    loads.length = 0;
    samples.sort((x, y) => x.t - y.t);

    // Requests per action window: from an action's start to the next one's.
    for (const s of samples) {
      let i = rows.findIndex((r) => r.startedAt > s.t) - 1;
      if (i < 0) i = s.t < rows[0].startedAt ? 0 : rows.length - 1;
      const row = rows[i];
      const ms = s.doneAt - s.sentAt;
      row.sent++;
      if (failed(s)) row.failed++;
      if (ms > 200) row.over200ms++;
      if (ms > 1000) row.slow++;
      row.maxMs = Math.max(row.maxMs, ms);
    }
    console.log(`chaos seed ${seed}: per action (requests sent from its start to the next action's):\n${actionTable(rows)}`);

    const failures = samples.filter(failed);
    const seconds = (samples.at(-1)!.t - samples[0].t) / 1000;
    const summary = `seed ${seed}: ${samples.length} requests over ${seconds.toFixed(0)} s (${(samples.length / seconds).toFixed(0)} req/s), ${failures.length} failed`;
    console.log(summary);
    if (failures.length > 0) {
      const actionAt = (t: number) => rows[Math.max(0, rows.findIndex((r) => r.startedAt > t) - 1)] ?? rows[0];
      const lines = failures
        .slice(0, 15)
        .map(
          (s) =>
            `  t+${(s.t / 1000).toFixed(2)}s ${s.listener}: ${s.error ?? `${s.status} ${(s.body ?? '').trim().slice(0, 100)}`} (during #${actionAt(s.t).action.index} ${describeAction(actionAt(s.t).action)})`,
        );
      problems.push(`${failures.length} failed request(s):\n${lines.join('\n')}`);
    }
    // Stalls are no loss (reported, not asserted), but where they happen says which part waited.
    const slow = samples.filter((s) => s.doneAt - s.sentAt > 1000);
    if (slow.length > 0) {
      const actionAt = (t: number) => rows[Math.max(0, rows.findIndex((r) => r.startedAt > t) - 1)] ?? rows[0];
      const per = new Map<string, number>();
      for (const s of slow) per.set(s.listener, (per.get(s.listener) ?? 0) + 1);
      console.log(
        `${slow.length} answer(s) took > 1 s (${[...per].map(([k, n]) => `${k} ${n}`).join(', ')}), from t+${(slow[0].t / 1000).toFixed(2)}s to t+${(slow.at(-1)!.t / 1000).toFixed(2)}s; first during #${actionAt(slow[0].t).action.index} ${describeAction(actionAt(slow[0].t).action)}`,
      );
    }
    const broken = samples.filter((s) => versionBehaviour(s.version) !== 'good' && s.version !== '');
    if (broken.length > 0)
      problems.push(
        `${broken.length} request(s) answered by a version that never became ready, first ${broken[0].version} on ${broken[0].listener} at t+${(broken[0].t / 1000).toFixed(1)}s`,
      );
    for (const r of rollouts) {
      const tail = samples.filter((s) => s.listener === r.name && s.t > samples.at(-1)!.t - 1000 && !failed(s));
      if (converged.every(Boolean) && tail.some((s) => s.version !== FINAL)) problems.push(`${r.name}: the last second was not served by ${FINAL} alone`);
    }
    assert.ok(seconds >= 120, `the load ran ≥ 2 minutes: ${summary}`);
    assert.ok(samples.length / seconds >= 200, `the load ran at ≥ 200 req/s: ${summary}`);

    // Zero lost state: everything reported is stored, and survives a last kill -9 + up -d.
    const atEnd = await snapshot(sluice.client());
    const listed = await sluice.cli(['get', 'rollouts']);
    for (const r of rollouts) {
      if (!atEnd.has(r.name)) problems.push(`rollout ${r.name} is gone after the schedule`);
      if (!listed.stdout.includes(r.name)) problems.push(`sluice get rollouts does not list ${r.name}: ${listed.stdout.trim()} ${listed.stderr.trim()}`);
    }
    problems.push(...missingPromises(atEnd, promised, actionsDone));
    for (const [i, b] of beforeKills.entries())
      problems.push(...lostBetween(b, atEnd, `after the schedule, compared with before kill -9 number ${i + 1}`, false));
    await kill9ControlPlane(sluice);
    await upDetached(sluice);
    const afterRestart = await snapshot(sluice.client());
    problems.push(...lostBetween(atEnd, afterRestart, 'after the final kill -9 and sluice up -d'));
    for (const [name, { status: s }] of atEnd) {
      const a = afterRestart.get(name)?.status;
      if (a && (a.stableRevision !== s.stableRevision || a.currentRevision !== s.currentRevision || a.phase !== s.phase)) {
        problems.push(
          `${name}: status changed across the final restart: ${s.phase} stable ${s.stableRevision} current ${s.currentRevision} → ${a.phase} stable ${a.stableRevision} current ${a.currentRevision}`,
        );
      }
    }

    if (problems.length > 0) console.log(`chaos seed ${seed} found:\n- ${problems.join('\n- ')}`);
    assert.deepEqual(problems, [], `chaos seed ${seed} (replay: SLUICE_CHAOS_SEED=${seed} npm run test:chaos)`);
  } finally {
    observing = false;
    await flagPoller?.stop();
    await observer;
    for (const l of loads) await l.gen.stop();
    await downDetached(sluice);
  }
});
