/**
 * DORA metrics (src/pipelines/dora.ts) over test/fixtures/dora-history.json: eight weeks
 * (2026-10-05 → 2026-11-30) of the `shop` pipeline (api, web; staging then production).
 *
 * The fixture, release by release (rNN = v1.0.NN, created day NN−1 of the period at 09:00 UTC):
 * - r01..r52 carry api; the even ones carry web too. Every fourth (r04, r08, …) has a commit 3 h
 *   before its creation (commitAt); the others count lead time from createdAt.
 * - staging: every release enters 10 min after creation and is Healthy 20 min later (30 min
 *   after creation), except r07 (Failed 15 min in, restored 6 min later) and r33 (Failed, never
 *   restored).
 * - production (manual): the even releases r02..r50 and the hotfix r45 enter 4 h after
 *   creation and are Healthy 1 h later (5 h after creation), except r10, r20, r30 (Failed 20 min
 *   in, restored after 12, 24 and 40 min) and r40 (Failed, never restored). r52 waits for approval
 *   (never entered). r45 (api only) is a hotfix of r44, and went through staging and production.
 * - outside the period: r00 (two days before) and r53 (enters staging exactly at `until`: excluded).
 * The numbers below are counted from this description, not from the code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { PipelineRecord, ReleaseRecord, ReleaseStageState } from '../../src/core/pipeline.js';
import { ALL_SERVICES, computeDora, type DoraInput, type DoraRow, median, percentile, renderDora } from '../../src/pipelines/dora.js';

const fixture = JSON.parse(readFileSync(new URL('../../../test/fixtures/dora-history.json', import.meta.url), 'utf8')) as {
  since: number;
  until: number;
  pipelines: PipelineRecord[];
  releases: ReleaseRecord[];
  states: ReleaseStageState[];
};
const DAY = 86_400_000;
const WEEK = 7 * DAY;
const base: DoraInput = { releases: fixture.releases, states: fixture.states, pipelines: fixture.pipelines, since: fixture.since, until: fixture.until };
const rowOf = (rows: DoraRow[], environment: string, service: string): DoraRow => {
  const r = rows.find((x) => x.environment === environment && x.service === service);
  assert.ok(r, `no row ${environment}/${service}`);
  return r;
};

test('the fixture is what the comments say: 54 releases over eight weeks', () => {
  assert.equal(fixture.releases.length, 54);
  assert.equal(fixture.until - fixture.since, 8 * WEEK);
  assert.equal(fixture.releases.find((r) => r.id === 'v1.0.45')?.hotfixOf, 'v1.0.44');
});

test('staging over the eight weeks', () => {
  const { rows } = computeDora(base);
  assert.deepEqual(
    rows.map((r) => `${r.environment}/${r.service}`),
    ['production/api', 'production/web', `production/${ALL_SERVICES}`, 'staging/api', 'staging/web', `staging/${ALL_SERVICES}`],
  );
  // api: r01..r52 = 52 deployments, 52/8 = 6.5 a week. Failed: r07, r33 (Failed) and r44 (its
  // hotfix r45 entered staging too) = 3. Restored: r07 after 6 min = 360 s.
  // Lead times: 50 healthy (all but r07, r33); the 13 multiples of 4 took 30 min + 3 h = 12600 s,
  // the other 37 took 30 min = 1800 s. Median = mean of the 25th and 26th = 1800; p90 = rank
  // ⌈0.9·50⌉ = 45, past the 37 short ones: 12600.
  assert.deepEqual(rowOf(rows, 'staging', 'api'), {
    service: 'api',
    environment: 'staging',
    deployments: 52,
    perWeek: 6.5,
    failed: 3,
    changeFailureRate: 3 / 52,
    successRate: 1 - 3 / 52,
    leadTimeSeconds: { median: 1800, p90: 12600 },
    timeToRestoreSeconds: { median: 360, max: 360 },
    restored: 1,
  });
  // web: the 26 even releases, 3.25 a week; failed: r44 only; 13 at 1800 s and 13 at 12600 s, so
  // the median is (1800 + 12600) / 2 = 7200 and p90 (rank 24) 12600. Nothing restored.
  const web = rowOf(rows, 'staging', 'web');
  assert.deepEqual(
    { ...web },
    {
      service: 'web',
      environment: 'staging',
      deployments: 26,
      perWeek: 3.25,
      failed: 1,
      changeFailureRate: 1 / 26,
      successRate: 1 - 1 / 26,
      leadTimeSeconds: { median: 7200, p90: 12600 },
      restored: 0,
    },
  );
  // All services: 52 + 26 = 78, 9.75 a week, 4 failed; leads 50 × 1800 and 26 × 12600: median
  // (38th, 39th) 1800, p90 rank 69 → 12600.
  const all = rowOf(rows, 'staging', ALL_SERVICES);
  assert.equal(all.deployments, 78);
  assert.equal(all.perWeek, 9.75);
  assert.equal(all.failed, 4);
  assert.equal(all.changeFailureRate, 4 / 78);
  assert.deepEqual(all.leadTimeSeconds, { median: 1800, p90: 12600 });
  assert.deepEqual(all.timeToRestoreSeconds, { median: 360, max: 360 });
});

test('production over the eight weeks: failures, restores, a hotfix and one never restored', () => {
  const { rows } = computeDora(base);
  // api: r02..r50 even (25) + r45 = 26, 3.25 a week. Failed: r10, r20, r30, r40 and r44 (hotfixed
  // by r45) = 5 → CFR 5/26 ≈ 19.2 %. Restored: r10 720 s, r20 1440 s, r30 2400 s (r40 never):
  // median 1440, max 2400. Leads: 22 healthy (26 − r10, r20, r30, r40); 8 h = 28800 s for the
  // multiples of 4 (12 of them minus r20, r40 = 10), 5 h = 18000 s for the other 12 (r45 among
  // them). Median = mean of the 11th and 12th = 18000; p90 = rank 20 → 28800.
  assert.deepEqual(rowOf(rows, 'production', 'api'), {
    service: 'api',
    environment: 'production',
    deployments: 26,
    perWeek: 3.25,
    failed: 5,
    changeFailureRate: 5 / 26,
    successRate: 1 - 5 / 26,
    leadTimeSeconds: { median: 18000, p90: 28800 },
    timeToRestoreSeconds: { median: 1440, max: 2400 },
    restored: 3,
  });
  // web: 25 (no r45), 3.125 a week, the same 5 failed → 20 %; 21 leads (11 × 18000, 10 × 28800):
  // median the 11th = 18000, p90 rank 19 → 28800.
  const web = rowOf(rows, 'production', 'web');
  assert.equal(web.deployments, 25);
  assert.equal(web.perWeek, 3.125);
  assert.equal(web.changeFailureRate, 0.2);
  assert.deepEqual(web.leadTimeSeconds, { median: 18000, p90: 28800 });
  // All: 51 deployments, 10 failed, 6 restores [720, 720, 1440, 1440, 2400, 2400] → median 1440.
  const all = rowOf(rows, 'production', ALL_SERVICES);
  assert.equal(all.deployments, 51);
  assert.equal(all.failed, 10);
  assert.equal(all.restored, 6);
  assert.deepEqual(all.timeToRestoreSeconds, { median: 1440, max: 2400 });
  // A failed change never restored (r40) counts as failed, not in the time to restore.
  assert.ok(all.failed > all.restored);
});

test('a period filter: the last four weeks (day 28 on: r29..r52)', () => {
  const { rows } = computeDora({ ...base, since: fixture.since + 4 * WEEK });
  // staging api: r29..r52 = 24, 6 a week; failed r33, r44 = 2; nothing restored.
  const sApi = rowOf(rows, 'staging', 'api');
  assert.deepEqual([sApi.deployments, sApi.perWeek, sApi.failed, sApi.restored, sApi.timeToRestoreSeconds], [24, 6, 2, 0, undefined]);
  // production api: r30..r50 even (11) + r45 = 12, 3 a week; failed r30, r40, r44 = 3 → 25 %;
  // restored r30 only, 2400 s.
  const pApi = rowOf(rows, 'production', 'api');
  assert.deepEqual([pApi.deployments, pApi.perWeek, pApi.failed, pApi.changeFailureRate], [12, 3, 3, 0.25]);
  assert.deepEqual(pApi.timeToRestoreSeconds, { median: 2400, max: 2400 });
});

test('an environment filter keeps that environment only, with the same numbers', () => {
  const { rows } = computeDora({ ...base, environment: 'production' });
  assert.deepEqual(
    rows.map((r) => r.service),
    ['api', 'web', ALL_SERVICES],
  );
  assert.equal(rowOf(rows, 'production', 'api').deployments, 26);
});

test('no deployments in the period: rows with zero and undefined metrics, rendered as —', () => {
  const report = computeDora({ ...base, since: fixture.until + WEEK, until: fixture.until + 2 * WEEK });
  const api = rowOf(report.rows, 'production', 'api');
  assert.deepEqual(api, { service: 'api', environment: 'production', deployments: 0, perWeek: 0, failed: 0, restored: 0 });
  const text = renderDora(report);
  assert.match(text, /change failure rate\s+< 10\.0 %\s+—\s+—\s+—/);
  assert.match(text, /time to restore median \/ max\s+< 30 min\s+—\s+—\s+—/);
  assert.match(text, /deploys per week\s+≥ 2 \(plan 2–3\)\s+0\.0 ✗/);
});

test('the rendering marks each metric against the playbook target', () => {
  const text = renderDora(computeDora({ ...base, environment: 'production' }));
  assert.match(text, /^DORA metrics 2026-10-05 → 2026-11-30 \(8\.0 weeks\)/);
  const line = (name: string): string => text.split('\n').find((l) => l.startsWith(name)) ?? '';
  // api 3.25 ✓, web 3.1 ✓, all 6.4 ✓.
  assert.match(line('deploys per week'), /3\.3 ✓\s+3\.1 ✓\s+6\.4 ✓$/);
  // 5/26 = 19.2 %, 5/25 = 20.0 %, 10/51 = 19.6 %: all above 10 %.
  assert.match(line('change failure rate'), /19\.2 % ✗\s+20\.0 % ✗\s+19\.6 % ✗$/);
  assert.match(line('success rate'), /> 95\.0 %\s+80\.8 % ✗/);
  // 18000 s = 5.0 h, 28800 s = 8.0 h, under seven days.
  assert.match(line('lead time median / p90'), /< 7\.0 d\s+5\.0 h \/ 8\.0 h ✓/);
  // 1440 s = 24 min < 30 min; max 2400 s = 40 min.
  assert.match(line('time to restore median / max'), /24 min \/ 40 min ✓/);
  assert.match(line('failed / restored'), /5 \/ 3\s+5 \/ 3\s+10 \/ 6$/);
});

test('an empty or reversed period is refused in one line', () => {
  assert.throws(
    () => computeDora({ ...base, until: base.since }),
    /^UserError: DORA period: until 2026-10-05T00:00:00.000Z is not after since 2026-10-05T00:00:00.000Z — give a since earlier than until$/,
  );
});

test('median and nearest-rank percentile', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9), 9);
  assert.equal(percentile([5], 0.9), 5);
});

test('property: CFR in [0, 1], service rows sum to the total, filters commute', () => {
  const ids = fixture.releases.map((r) => r.id);
  fc.assert(
    fc.property(
      fc.subarray(ids, { minLength: 0 }),
      fc.integer({ min: 0, max: 8 * 7 }),
      fc.integer({ min: 0, max: 8 * 7 }),
      fc.constantFrom(undefined, 'staging', 'production'),
      (kept, a, b, environment) => {
        const keep = new Set(kept);
        const since = fixture.since + Math.min(a, b) * DAY;
        const until = fixture.since + Math.max(a, b) * DAY + DAY;
        const input: DoraInput = { ...base, releases: fixture.releases.filter((r) => keep.has(r.id)), since, until };
        const all = computeDora(input).rows;
        for (const r of all) {
          if (r.changeFailureRate !== undefined) assert.ok(r.changeFailureRate >= 0 && r.changeFailureRate <= 1);
          assert.equal(r.changeFailureRate === undefined, r.deployments === 0);
          assert.ok(r.restored <= r.failed);
        }
        for (const env of new Set(all.map((r) => r.environment))) {
          const rows = all.filter((r) => r.environment === env);
          const total = rows.find((r) => r.service === ALL_SERVICES)!;
          const services = rows.filter((r) => r.service !== ALL_SERVICES);
          assert.equal(
            services.reduce((n, r) => n + r.deployments, 0),
            total.deployments,
          );
          assert.equal(
            services.reduce((n, r) => n + r.failed, 0),
            total.failed,
          );
        }
        // The environment filter equals filtering the rows; splitting the period adds up.
        const filtered = computeDora({ ...input, environment }).rows;
        assert.deepEqual(
          filtered,
          all.filter((r) => environment === undefined || r.environment === environment),
        );
        // The middle instant (strictly inside: the period is at least a day) splits it.
        const mid = since + Math.ceil((until - since) / 2);
        const first = computeDora({ ...input, environment, until: mid }).rows;
        const second = computeDora({ ...input, environment, since: mid }).rows;
        for (const r of filtered) {
          const sum = [first, second].reduce((n, rows) => n + rows.find((x) => x.environment === r.environment && x.service === r.service)!.deployments, 0);
          assert.equal(sum, r.deployments);
          const failedSum = [first, second].reduce((n, rows) => n + rows.find((x) => x.environment === r.environment && x.service === r.service)!.failed, 0);
          assert.equal(failedSum, r.failed);
        }
      },
    ),
    { numRuns: 150 },
  );
});
