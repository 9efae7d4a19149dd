import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSim, SIM_APP } from '../helpers/engine-sim.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { ExposureCollector } from '../../src/engine/exposures.js';

type Sim = ReturnType<typeof makeSim>;

async function deploy(sim: Sim, strategy: string, extra = '', traffic = '') {
  await sim.controller.apply(
    rolloutManifest({ ...SIM_APP, version: 'v1', strategy, extra: '' }).replace('    listen: 127.0.0.1:18080\n', `    listen: 127.0.0.1:18080\n${traffic}`) +
      extra,
    '/tmp/web.yaml',
    sim.by,
  );
  await sim.run(3000);
  assert.equal((await sim.status('web')).phase, 'Healthy');
}

async function release(sim: Sim, strategy: string, traffic = '') {
  await sim.controller.apply(
    rolloutManifest({ ...SIM_APP, version: 'v2', strategy }).replace('    listen: 127.0.0.1:18080\n', `    listen: 127.0.0.1:18080\n${traffic}`),
    '/tmp/web.yaml',
    sim.by,
  );
}

function main(sim: Sim) {
  const l = sim.router.current?.listeners.find((x) => x.rollout === 'web' && x.role === 'main');
  assert.ok(l, 'main listener');
  return l;
}

const SHADOW = `    shadow:
      mirror:
        name: dark
        percentage: 50
        compare: {ignorePaths: [$.timestamp]}
      durationSeconds: 20
`;

test('shadow: copies go to the new revision, clients stay on stable, then it takes over after the duration', async () => {
  const sim = makeSim();
  await deploy(sim, SHADOW);
  await release(sim, SHADOW);
  await sim.run(2000);
  let s = await sim.status('web');
  assert.equal(s.reason, 'Shadowing', s.message);
  assert.deepEqual(sim.router.split('web'), { v1: 100 }, 'clients only ever reach stable');
  const mirrors = main(sim).mirrors ?? [];
  assert.equal(mirrors.length, 1);
  assert.equal(mirrors[0].revision, 2);
  assert.equal(mirrors[0].percent, 50);
  assert.deepEqual(mirrors[0].match?.methods, ['GET', 'HEAD', 'OPTIONS'], 'only idempotent methods by default');
  assert.deepEqual(mirrors[0].compare, { ignorePaths: ['$.timestamp'] });
  assert.ok(
    main(sim).backends.some((b) => b.revision === 2 && b.endpoints.length > 0),
    'the shadow revision has a backend for the copies',
  );
  assert.deepEqual(sim.versions('web'), { v1: 3, v2: 3 });

  await sim.run(10_000);
  assert.equal((await sim.status('web')).reason, 'Shadowing', 'still shadowing at half time');
  await sim.run(15_000);
  s = await sim.status('web');
  assert.equal(s.phase, 'Healthy', s.message);
  assert.equal(s.stableRevision, 2);
  assert.deepEqual(sim.router.split('web'), { v2: 100 });
  assert.equal(main(sim).mirrors, undefined, 'no mirror once promoted');
  const reasons = sim.store.listEvents('web').map((e) => e.reason);
  assert.ok(reasons.includes('ShadowStarted') && reasons.includes('ShadowCompleted'));
});

test('shadow without a duration waits for promote; abort stops the copies', async () => {
  const strategy = `    shadow:
      shadowReplicas: 1
`;
  const sim = makeSim();
  await deploy(sim, strategy);
  await release(sim, strategy);
  await sim.run(60_000, 1000);
  let s = await sim.status('web');
  assert.equal(s.phase, 'Paused', s.message);
  assert.equal(s.reason, 'Shadowing');
  assert.deepEqual(sim.versions('web'), { v1: 3, v2: 1 });
  assert.equal(main(sim).mirrors?.[0]?.percent, 100);

  await sim.controller.abort('web', sim.by);
  await sim.run(3000);
  s = await sim.status('web');
  assert.equal(s.phase, 'Degraded');
  assert.equal(main(sim).mirrors, undefined, 'abort removes the mirror');
  assert.deepEqual(sim.versions('web'), { v1: 3 });

  await sim.controller.retry('web', sim.by);
  await sim.run(3000);
  await sim.controller.promote('web', {}, sim.by);
  await sim.run(5000);
  s = await sim.status('web');
  assert.equal(s.phase, 'Healthy', s.message);
  assert.deepEqual(sim.router.split('web'), { v2: 100 });
});

const AB = `    abTest:
      variants:
        - {name: a, weight: 60}
        - {name: b, weight: 40}
`;

test('A/B: both variants serve by weight with sticky users and a variant header until promote --variant', async () => {
  const sim = makeSim();
  await deploy(sim, AB);
  await release(sim, AB);
  await sim.run(3000);
  let s = await sim.status('web');
  assert.equal(s.reason, 'Experimenting', s.message);
  assert.deepEqual(sim.router.split('web'), { v1: 60, v2: 40 });
  const l = main(sim);
  assert.equal(l.variantHeader, 'x-sluice-variant');
  assert.deepEqual(
    l.backends.map((b) => [b.revision, b.variant]),
    [
      [1, 'a'],
      [2, 'b'],
    ],
  );
  assert.deepEqual(l.sticky, { cookie: { name: 'sluice-web' } }, 'A/B users stick to a variant by default');
  assert.deepEqual(sim.versions('web'), { v1: 3, v2: 2 }, 'the new variant scaled to its share, ceil(3 × 40%)');

  await sim.run(120_000, 5000);
  assert.equal((await sim.status('web')).reason, 'Experimenting', 'an A/B test runs until a person decides');

  await assert.rejects(sim.controller.promote('web', {}, sim.by), /--variant a\|b/);
  await assert.rejects(sim.controller.promote('web', { variant: 'c' }, sim.by), /no variant "c"/);
  await sim.controller.promote('web', { variant: 'b' }, sim.by);
  await sim.run(5000);
  s = await sim.status('web');
  assert.equal(s.phase, 'Healthy', s.message);
  assert.equal(s.stableRevision, 2);
  assert.deepEqual(sim.router.split('web'), { v2: 100 });
  assert.deepEqual(sim.versions('web'), { v2: 3 });
  assert.equal(main(sim).variantHeader, undefined);
});

test('A/B: the control winning keeps stable and scales the other variant down', async () => {
  const sim = makeSim();
  await deploy(sim, AB);
  await release(sim, AB);
  await sim.run(3000);
  await sim.controller.promote('web', { variant: 'a' }, sim.by);
  await sim.run(3000);
  const s = await sim.status('web');
  assert.equal(s.phase, 'Healthy', s.message);
  assert.equal(s.stableRevision, 1);
  assert.equal(s.currentRevision, 1);
  assert.deepEqual(sim.router.split('web'), { v1: 100 });
  assert.deepEqual(sim.versions('web'), { v1: 3 });
  assert.ok(sim.store.listEvents('web').some((e) => e.reason === 'ExperimentConcluded' && /variant a \(revision 1\) kept/.test(e.message)));
});

test('A/B exposures: growth of the router counters per variant, from the first collection, across a router restart', async () => {
  const sim = makeSim();
  await deploy(sim, AB);
  await release(sim, AB);
  await sim.run(3000);
  let readings = [
    { listen: '127.0.0.1:18080', rollout: 'web', revision: 1, requests: 1000, errors5xx: 0, newUsers: 200 },
    { listen: '127.0.0.1:18080', rollout: 'web', revision: 2, requests: 10, errors5xx: 0, newUsers: 5 },
  ];
  const collector = new ExposureCollector(sim.store, async () => readings, sim.clock);
  await collector.collect();
  readings = [
    { ...readings[0], requests: 1060, newUsers: 212 },
    { ...readings[1], requests: 50, newUsers: 13 },
  ];
  await collector.collect();
  // The router restarted: its counters start again from zero.
  readings = [
    { ...readings[0], requests: 6, newUsers: 1 },
    { ...readings[1], requests: 4, newUsers: 2 },
  ];
  await collector.collect();
  const view = await sim.controller.get('web');
  const byVariant = Object.fromEntries((view.exposures ?? []).map((e) => [e.variant, [e.revision, e.requests, e.users]]));
  assert.deepEqual(byVariant, { a: [1, 66, 13], b: [2, 44, 10] });
});

test('traffic.routes: a rule whose target is a split (premium users 50/50) and a variant target', async () => {
  const routes = `    routes:
      - name: premium
        match: {header: {name: x-user-segment, exact: premium}}
        to: {a: 50, b: 50}
      - name: beta
        match: {header: {name: x-user-segment, exact: beta}}
        to: b
`;
  const sim = makeSim();
  await deploy(sim, AB, '', routes);
  await release(sim, AB, routes);
  await sim.run(3000);
  const rules = main(sim).rules;
  assert.deepEqual(rules[0], {
    name: 'premium',
    header: { name: 'x-user-segment', exact: 'premium' },
    split: [
      { revision: 1, weight: 50 },
      { revision: 2, weight: 50 },
    ],
  });
  assert.deepEqual(rules[1], { name: 'beta', header: { name: 'x-user-segment', exact: 'beta' }, revision: 2 });
});

test('canary setMirrorRoute adds a mirror to the canary and promotion removes it', async () => {
  const strategy = `    canary:
      steps:
        - setMirrorRoute:
            name: copy-gets
            percentage: 35
            match: {methods: [get], pathPrefix: /api}
        - pause: {}
        - setMirrorRoute: {name: copy-gets}
        - setWeight: 50
        - pause: {}
`;
  const sim = makeSim();
  await deploy(sim, strategy);
  await release(sim, strategy);
  await sim.run(3000);
  let s = await sim.status('web');
  assert.equal(s.stepIndex, 1, s.message);
  assert.deepEqual(sim.router.split('web'), { v1: 100 });
  assert.deepEqual(main(sim).mirrors, [
    { name: 'copy-gets', revision: 2, percent: 35, match: { methods: ['GET'], pathPrefix: '/api' }, queueLimit: 100, maxBodyBytes: 1048576 },
  ]);
  assert.deepEqual(sim.versions('web'), { v1: 3, v2: 1 }, 'a mirror route needs one canary instance');
  await sim.controller.promote('web', {}, sim.by);
  await sim.run(3000);
  s = await sim.status('web');
  assert.equal(s.stepIndex, 4, s.message);
  assert.equal(main(sim).mirrors, undefined, 'the step without match removed it');
  assert.deepEqual(sim.router.split('web'), { v1: 50, v2: 50 });
});

test('stop-traffic, pause-traffic and resume-traffic put a hold on every listener of the rollout and record who', async () => {
  const sim = makeSim();
  await deploy(sim, `    rolling: {}\n`);
  await sim.controller.stopTraffic('web', sim.by);
  await sim.run(500);
  assert.deepEqual(main(sim).hold, { mode: 'stopped' });
  assert.equal(main(sim).maintenance?.status, 503, 'the default maintenance answer');
  await assert.rejects(sim.controller.stopTraffic('web', sim.by), /already stopped/);
  await sim.controller.pauseTraffic('web', { timeoutSeconds: 12 }, sim.by);
  await sim.run(500);
  assert.deepEqual(main(sim).hold, { mode: 'paused', pauseTimeoutMs: 12_000 });
  await assert.rejects(sim.controller.pauseTraffic('web', { timeoutSeconds: -1 }, sim.by), /must be a duration above 0/);
  await sim.controller.resumeTraffic('web', sim.by);
  await sim.run(500);
  assert.equal(main(sim).hold, undefined);
  await assert.rejects(sim.controller.resumeTraffic('web', sim.by), /neither stopped nor paused/);
  const events = sim.store.listEvents('web').filter((e) => e.reason.startsWith('Traffic'));
  assert.deepEqual(
    events.map((e) => [e.reason, e.actor]),
    [
      ['TrafficStopped', 'test'],
      ['TrafficPaused', 'test'],
      ['TrafficResumed', 'test'],
    ],
  );
});

test('resilience settings reach the route table in milliseconds', async () => {
  const traffic = `    outlierDetection: {consecutiveErrors: 3, baseEjectionSeconds: 2s}
    connectionLimits: {maxConnections: 10, maxPending: 5, queueTimeoutSeconds: 500ms}
    timeouts: {connectSeconds: 1s, responseSeconds: 15s}
    bufferRequests: {maxBytes: 65536}
`;
  const sim = makeSim();
  await deploy(sim, `    rolling: {}\n`, '', traffic);
  assert.deepEqual(main(sim).resilience, {
    outlier: { consecutiveFailures: 3, baseEjectionMs: 2000, maxEjectedPercent: 50 },
    limits: { maxConnections: 10, maxPending: 5, queueTimeoutMs: 500 },
    timeouts: { connectMs: 1000, responseMs: 15000 },
    bufferRequests: { maxBytes: 65536 },
  });
});

test('canary: traffic.routes to the canary keep one canary instance even at weight 0', async () => {
  const strategy = `    canary:
      steps:
        - pause: {}
`;
  const routes = `    routes:
      - {name: beta, match: {header: {name: x-user-segment, exact: beta}}, to: canary}
`;
  const sim = makeSim();
  await deploy(sim, strategy, '', routes);
  await release(sim, strategy, routes);
  await sim.run(3000);
  assert.deepEqual(sim.router.split('web'), { v1: 100 });
  assert.deepEqual(sim.versions('web'), { v1: 3, v2: 1 });
  assert.deepEqual(main(sim).rules, [{ name: 'beta', header: { name: 'x-user-segment', exact: 'beta' }, revision: 2 }]);
});

test('A/B with three variants: the third is the template with overrides, a revision of its own; it can win', async () => {
  const AB3 = `    abTest:
      variants:
        - {name: a, weight: 40}
        - {name: b, weight: 30}
        - {name: c, weight: 30, version: v2-c, env: {CHECKOUT: one-page}}
`;
  const sim = makeSim();
  await deploy(sim, AB3);
  await release(sim, AB3);
  await sim.run(3000);
  let s = await sim.status('web');
  assert.equal(s.reason, 'Experimenting', s.message);
  assert.deepEqual(s.variantRevisions, { c: 3 });
  const c = sim.store.listRevisions('web').find((r) => r.number === 3)!;
  assert.equal(c.template.version, 'v2-c');
  assert.deepEqual(c.template.env, { VERSION: 'v2', CHECKOUT: 'one-page' }, 'the template with its env overrides');
  assert.match(c.cause, /A\/B variant c of revision 2/);
  assert.deepEqual(sim.router.split('web'), { v1: 40, v2: 30, 'v2-c': 30 });
  assert.deepEqual(
    main(sim).backends.map((b) => [b.revision, b.variant]),
    [
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ],
  );
  assert.deepEqual(sim.versions('web'), { v1: 3, v2: 1, 'v2-c': 1 });

  const collector = new ExposureCollector(
    sim.store,
    async () =>
      [1, 2, 3].map((revision) => ({ listen: '127.0.0.1:18080', rollout: 'web', revision, requests: 10 * revision, errors5xx: 0, newUsers: revision })),
    sim.clock,
  );
  await collector.collect();
  assert.deepEqual(
    (await sim.controller.get('web')).exposures?.map((e) => [e.variant, e.revision]),
    [
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ],
  );

  await sim.controller.promote('web', { variant: 'c' }, sim.by);
  await sim.run(5000);
  s = await sim.status('web');
  assert.equal(s.phase, 'Healthy', s.message);
  assert.equal(s.stableRevision, 3);
  assert.equal(s.currentRevision, 3);
  assert.equal(s.variantRevisions, undefined);
  assert.deepEqual(sim.router.split('web'), { 'v2-c': 100 });
  assert.deepEqual(sim.versions('web'), { 'v2-c': 3 });
});

test('A/B with three variants: abort stops every tested variant and retry brings them back', async () => {
  const AB3 = `    abTest:
      variants:
        - {name: a, weight: 50}
        - {name: b, weight: 25}
        - {name: c, weight: 25, version: v2-c}
`;
  const sim = makeSim();
  await deploy(sim, AB3);
  await release(sim, AB3);
  await sim.run(3000);
  await sim.controller.abort('web', sim.by);
  await sim.run(3000);
  assert.deepEqual(sim.versions('web'), { v1: 3 });
  assert.deepEqual(sim.router.split('web'), { v1: 100 });
  await sim.controller.retry('web', sim.by);
  await sim.run(3000);
  assert.equal((await sim.status('web')).reason, 'Experimenting');
  assert.deepEqual(sim.router.split('web'), { v1: 50, v2: 25, 'v2-c': 25 });
});

test('shadow and A/B analyses naming an unknown AnalysisTemplate are refused at apply, changing nothing', async () => {
  const sim = makeSim();
  for (const strategy of [
    `    shadow:\n      analysis: {templates: [{templateName: nope}]}\n`,
    `    abTest:\n      variants: [{name: a, weight: 50}, {name: b, weight: 50}]\n      analysis: {templates: [{templateName: nope}]}\n`,
  ]) {
    await assert.rejects(
      sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v1', strategy }), '/tmp/web.yaml', sim.by),
      /AnalysisTemplate "nope" not found/,
    );
  }
  assert.deepEqual(await sim.controller.list(), []);
});
