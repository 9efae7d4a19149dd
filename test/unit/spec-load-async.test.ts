import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadResources } from '../../src/spec/load.js';
import { loadResourcesAsync } from '../../src/spec/load-async.js';
import { UserError } from '../../src/util/errors.js';

/** A valid manifest just under the file limit, token-dense (yaml's parse time grows with tokens): a 100,000-number jsonBody. */
function largeManifest(): string {
  const body = Array.from({ length: 100_000 }, (_, i) => i % 1000).join(',');
  return `apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata: {name: big}\nspec:\n  template: {version: v1, command: node}\n  traffic: {listen: "127.0.0.1:8080"}\n  strategy: {rolling: {}}\n  smokeTests: [{name: s, checks: [{path: /x, jsonBody: [${body}]}]}]\n`;
}

/** The longest the event loop went without running a 5 ms interval while `work` ran. */
async function maxLoopGap(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let gap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(gap, performance.now() - last);
}

test('a large manifest is parsed off the event loop: other work keeps running within 100 ms', async () => {
  const text = largeManifest();
  assert.ok(Buffer.byteLength(text) > 350 * 1024 && Buffer.byteLength(text) < 512 * 1024, `${Buffer.byteLength(text)} bytes`);
  await loadResourcesAsync(text, 'warm.yaml'); // the first call starts the thread
  const t0 = performance.now();
  const inline = loadResources(text, 'big.yaml');
  const inlineMs = performance.now() - t0;
  let resources: Awaited<ReturnType<typeof loadResourcesAsync>> = [];
  const gap = await maxLoopGap(async () => {
    resources = await loadResourcesAsync(text, 'big.yaml');
  });
  console.log(
    `${Math.round(Buffer.byteLength(text) / 1024)} KiB manifest: parsing takes ${inlineMs.toFixed(0)} ms inline; through the worker the event loop's longest gap was ${gap.toFixed(0)} ms`,
  );
  assert.deepEqual(resources, inline);
  assert.ok(gap < 100, `event loop blocked for ${gap} ms`);
});

test('loadResourcesAsync gives the same UserError as loadResources, small and large', async () => {
  const bad = largeManifest().replace('  strategy: {rolling: {}}', '  strategy: {rolling: {maxSurge: 1e9}}');
  assert.notEqual(bad, largeManifest());
  await assert.rejects(loadResourcesAsync(bad, 'big.yaml'), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.match(err.message, /^big\.yaml:\d+:\d+: spec\.strategy\.rolling\.maxSurge: must be ≤ 1000/);
    return true;
  });
  await assert.rejects(
    loadResourcesAsync('kind: [', 'small.yaml'),
    (err: unknown) => err instanceof UserError && /small\.yaml:1:\d+: YAML syntax error/.test(err.message),
  );
});
