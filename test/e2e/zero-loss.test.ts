/**
 * Acceptance (issue 4, item 8): the zero-lost-requests suite at a modest rate. Every
 * scenario of test/helpers/zero-loss.ts (each strategy, abort, undo, a router restart,
 * kill -9 of the control plane, an instance crash, a slow-starting revision) loses no
 * request; recreate's gap is answered only by its maintenance page. bench/zero-loss.mjs
 * runs the same scenarios at a higher rate.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SluiceUnderTest } from '../helpers/sluice.js';
import { SCENARIOS, markdownTable, passed, runScenario, type ScenarioResult } from '../helpers/zero-loss.js';

const RATE = 80;
let sluice: SluiceUnderTest;
const results: ScenarioResult[] = [];

before(async () => {
  sluice = await SluiceUnderTest.start();
});
after(async () => {
  if (results.length > 0) console.log(`zero-loss suite at ${RATE} req/s:\n${markdownTable(results)}`);
  await sluice?.down();
});

SCENARIOS.forEach((scenario, i) => {
  test(`zero loss: ${scenario.name}`, async () => {
    const r = await runScenario(sluice, scenario, RATE, i);
    results.push(r);
    const what = `${r.name}: sent ${r.sent}, 2xx ${r.ok2xx}, maintenance ${r.maintenance}, other ${r.otherStatus}, connection errors ${r.connectionErrors}, p99 ${r.p99Ms.toFixed(1)} ms; ${r.note}`;
    assert.equal(r.lost, 0, `${what}; lost: ${r.firstFailures.join(' | ')}`);
    assert.deepEqual(r.problems, [], what);
    assert.ok(r.sent >= RATE, `the load ran: ${what}`);
    if (scenario.name === 'recreate') assert.ok(r.maintenance > 0, `recreate has a gap, served by the maintenance page: ${what}`);
    else assert.equal(r.maintenance, 0);
    assert.ok(passed(r), what);
    console.log(what);
  });
});
