/**
 * Leader election (src/kube/lease.ts) against a real API server (test/helpers/k8s.ts), with
 * candidates in real child processes (test/helpers/lease-candidate.ts), each writing the
 * times it starts and stops leading to a file: exactly one leads; after a SIGKILL of the
 * leader the other leads within leaseDuration + retryPeriod (and not before the dead one's
 * lease could have expired); a SIGTERM releases the lease so the other leads at once; and
 * over the whole test no two leading intervals overlap.
 * Needs `bash scripts/k8s-build.sh` once (skipped loudly without it; fails in CI).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Lease } from '../../src/kube/lease.js';
import { type K8sCluster, k8sMissing, startCluster, waitK8s } from '../helpers/k8s.js';

const skip = k8sMissing();
const NS = 'sluice-lease';
const LEASE_MS = 3_000;
const RENEW_MS = 2_000;
const RETRY_MS = 500;
/** The candidates share this machine's clock; this is for the time a line takes to be written. */
const SLACK_MS = 50;
const candidateScript = fileURLToPath(new URL('../helpers/lease-candidate.js', import.meta.url));

interface Candidate {
  id: string;
  child: ChildProcess;
  file: string;
  stderr: string[];
  exited: Promise<void>;
}

/** A candidate's [start, end) leading intervals; a still-open one ends at `openEnd`. */
function intervals(c: Candidate, openEnd: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let start: number | undefined;
  for (const line of readFileSync(c.file, 'utf8').split('\n')) {
    const [what, at] = line.split(' ');
    if (what === 'start') start = Number(at);
    if (what === 'stop' && start !== undefined) {
      out.push([start, Number(at)]);
      start = undefined;
    }
  }
  if (start !== undefined) out.push([start, openEnd]);
  return out;
}

const starts = (c: Candidate) => intervals(c, Number.POSITIVE_INFINITY).map(([s]) => s);
const leading = (c: Candidate) => intervals(c, Number.POSITIVE_INFINITY).some(([, e]) => e === Number.POSITIVE_INFINITY);

describe('leader election on a real Lease', { skip }, () => {
  let cluster: K8sCluster;
  let dir: string;
  const all: Candidate[] = [];
  /** When each SIGKILLed candidate died (its open interval ends there). */
  const killedAt = new Map<string, number>();

  const candidate = (id: string): Candidate => {
    const file = join(dir, `${id}.log`);
    writeFileSync(file, '');
    const child = spawn(
      process.execPath,
      [candidateScript, cluster.server, cluster.caFile, cluster.token, NS, 'sluice-controller', id, file, String(LEASE_MS), String(RENEW_MS), String(RETRY_MS)],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const stderr: string[] = [];
    child.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const c = { id, child, file, stderr, exited };
    all.push(c);
    return c;
  };
  const detail = () => all.map((c) => `--- ${c.id}: ${readFileSync(c.file, 'utf8')}${c.stderr.join('')}`).join('\n');
  const holder = async () =>
    (await cluster.request<Lease>('GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/sluice-controller`)).body.spec?.holderIdentity;

  before(
    async () => {
      cluster = await startCluster();
      dir = mkdtempSync(join(tmpdir(), 'sluice-lease-'));
      const created = await cluster.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    },
    { timeout: 240_000 },
  );
  after(async () => {
    for (const c of all) {
      if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
      await c.exited;
    }
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let a: Candidate;
  let b: Candidate;
  let first: Candidate;
  let second: Candidate;

  test('of two candidates exactly one leads, and the Lease names it', { timeout: 60_000 }, async () => {
    a = candidate('a');
    b = candidate('b');
    const leader = await waitK8s(cluster, 'one candidate leading', () => [a, b].find(leading), 30_000);
    // Both keep standing for several lease durations: still exactly that one.
    await new Promise((r) => setTimeout(r, 3 * LEASE_MS));
    assert.deepEqual(
      [a, b].filter(leading).map((c) => c.id),
      [leader.id],
      detail(),
    );
    assert.equal(starts(a).length + starts(b).length, 1, detail());
    assert.equal(await holder(), leader.id);
    first = leader;
    second = leader === a ? b : a;
  });

  test('SIGKILL of the leader: the other leads within leaseDuration + retryPeriod, not before the lease could expire', { timeout: 60_000 }, async () => {
    first.child.kill('SIGKILL');
    await first.exited;
    const killed = Date.now();
    killedAt.set(first.id, killed);
    // The dead leader's last renewal, on this machine's clock (the takeover is seconds away).
    const lease = (await cluster.request<Lease>('GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/sluice-controller`)).body;
    assert.equal(lease.spec?.holderIdentity, first.id, detail());
    const lastRenew = Date.parse(lease.spec?.renewTime ?? '');
    const [took] = await waitK8s(cluster, `${second.id} leading after ${first.id} was killed`, () => (leading(second) ? starts(second) : undefined), 30_000);
    const sinceRenew = (took ?? 0) - lastRenew;
    // The other candidate saw that record no earlier than it was written, and waits a whole
    // lease duration from then: never sooner. The upper bound is generous (two busy cores).
    assert.ok(sinceRenew >= LEASE_MS - SLACK_MS, `took over ${sinceRenew} ms after the last renewal: before the lease expired\n${detail()}`);
    const sinceKill = (took ?? 0) - killed;
    assert.ok(sinceKill <= LEASE_MS + RETRY_MS + 3_000, `took over ${sinceKill} ms after the kill\n${detail()}`);
    assert.equal(await holder(), second.id);
  });

  test('a clean stop (SIGTERM) releases the lease: the other candidate leads well before it would expire', { timeout: 60_000 }, async () => {
    const third = candidate('c');
    await waitK8s(cluster, 'c standing', () => readFileSync(third.file, 'utf8').includes('ready'), 20_000);
    await new Promise((r) => setTimeout(r, 2 * RETRY_MS)); // c has read the lease
    assert.equal(leading(third), false);
    const stoppedAt = Date.now();
    second.child.kill('SIGTERM');
    await second.exited;
    assert.equal(second.child.exitCode, 0, detail());
    assert.equal(leading(second), false, 'its interval is closed');
    const [took] = await waitK8s(cluster, 'c leading after b stopped', () => (leading(third) ? starts(third) : undefined), 30_000);
    const after = (took ?? 0) - stoppedAt;
    // A released lease is taken at the next attempt: retryPeriod × (1 + 1.2 jitter), plus a busy machine.
    assert.ok(after < LEASE_MS, `took over ${after} ms after SIGTERM: the lease was not released\n${detail()}`);
    assert.equal(await holder(), 'c');
  });

  test('over the whole test no two leading intervals overlap', () => {
    const now = Date.now();
    const spans = all.flatMap((c) => intervals(c, killedAt.get(c.id) ?? now).map(([s, e]) => ({ id: c.id, s, e })));
    assert.equal(spans.length, 3, detail());
    spans.sort((x, y) => x.s - y.s);
    for (let i = 1; i < spans.length; i++) {
      const prev = spans[i - 1]!;
      const next = spans[i]!;
      assert.ok(next.s >= prev.e - SLACK_MS, `${prev.id} led [${prev.s}, ${prev.e}) and ${next.id} from ${next.s}\n${detail()}`);
    }
  });
});
