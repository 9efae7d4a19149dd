/**
 * `sluice apply` of FeatureFlag documents next to rollouts: one transaction, and a rollout
 * naming a flag that neither exists nor comes in the same apply is refused with nothing
 * changed. Runs once spec/load.ts decodes kind: FeatureFlag (the spec helper's part of issue 12).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KINDS } from '../../src/spec/load.js';
import { MemoryStore } from '../../src/store/memory.js';
import { Controller } from '../../src/engine/controller.js';
import { FlagController } from '../../src/engine/flags/controller.js';
import { flagSubject } from '../../src/core/flags.js';
import { engineOn } from '../helpers/engine-on-store.js';
import { RecordingFlagPlane } from '../helpers/flag-fixtures.js';

const skip = 'FeatureFlag' in KINDS ? false : 'spec/load.ts does not decode kind: FeatureFlag yet';

const FLAG = `apiVersion: sluice.dev/v1alpha1
kind: FeatureFlag
metadata: {name: new-checkout}
spec:
  enable: {percentage: 10%}
`;
const ROLLOUT = `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  template: {version: v2, command: node}
  traffic: {listen: 127.0.0.1:18080}
  strategy:
    canary:
      steps: [{setWeight: 20}, {setFlag: {flag: new-checkout, percentage: 25%}}]
  flags: {killOnAbort: [new-checkout]}
`;

function setup() {
  const store = new MemoryStore();
  const e = engineOn(store);
  const plane = new RecordingFlagPlane();
  const flags = new FlagController({ store, clock: e.clock, plane, listen: '127.0.0.1:8016' });
  const controller = new Controller(store, e.reconciler, e.platform, e.clock, e.jobs, flags);
  return { store, controller };
}

test('a rollout naming an unknown flag is refused with file:line, and nothing changes', { skip }, async () => {
  const { store, controller } = setup();
  await assert.rejects(controller.apply(ROLLOUT, 'web.yaml', { actor: 'ana' }), {
    message: /^web\.yaml:1: rollout web: FeatureFlag "new-checkout" not found — /,
  });
  assert.deepEqual(store.listRollouts(), []);
  assert.deepEqual(store.listFlags(), []);
});

test('the flag and the rollout in one file are applied together; a second apply keeps the flag state', { skip }, async () => {
  const { store, controller } = setup();
  const results = await controller.apply(`${FLAG}---\n${ROLLOUT}`, 'web.yaml', { actor: 'ana' });
  assert.deepEqual(
    results.map((r) => `${r.kind ?? 'Rollout'} ${r.name} ${r.result}`),
    ['FeatureFlag new-checkout created', 'Rollout web created'],
  );
  assert.equal(store.getFlag('new-checkout')!.spec.enable?.percentage, 10);
  assert.equal(store.listEvents(flagSubject('new-checkout'))[0]!.actor, 'ana');
  // The rollout alone, now that the flag exists.
  const again = await controller.apply(ROLLOUT, 'web.yaml', { actor: 'ana' });
  assert.equal(again[0]!.result, 'unchanged');
});
