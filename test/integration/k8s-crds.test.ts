/**
 * deploy/kubernetes/crds.yaml (src/spec/crds.ts) against a real API server: every CRD is
 * accepted and Established; every Rollout of examples/*.yaml (and every FeatureFlag of
 * examples/flags.yaml) is accepted as a custom resource under strict field validation; a
 * wrong-typed field is refused with 422 and an unknown one under Strict; the status
 * subresource takes the controller's status, and the printer columns show it.
 * Needs `bash scripts/k8s-build.sh` once (skipped loudly without it; fails in CI).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Agent, fetch } from 'undici';
import { parseAllDocuments } from 'yaml';
import { CRD_NAMES } from '../../src/spec/crds.js';
import type { Kind } from '../../src/spec/load.js';
import { installCrds, type K8sCluster, k8sMissing, startCluster } from '../helpers/k8s.js';

const skip = k8sMissing();
const NS = 'sluice-crds';
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
}

function examples(kind: string): Array<{ file: string; doc: Doc }> {
  const out: Array<{ file: string; doc: Doc }> = [];
  for (const file of readdirSync(`${ROOT}examples`)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    for (const d of parseAllDocuments(readFileSync(`${ROOT}examples/${file}`, 'utf8'))) {
      const doc = d.toJS() as Doc | null;
      if (doc?.kind === kind) out.push({ file, doc });
    }
  }
  return out;
}

const collection = (kind: Kind) => `/apis/sluice.dev/v1alpha1/namespaces/${NS}/${CRD_NAMES[kind].plural}`;

describe('sluice CRDs on a real API server', { skip }, () => {
  let cluster: K8sCluster;

  before(
    async () => {
      cluster = await startCluster();
      const created = await cluster.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    },
    { timeout: 240_000 },
  );
  after(async () => {
    await cluster?.stop();
  });

  test('every CRD of crds.yaml is accepted and Established', { timeout: 120_000 }, async () => {
    const crds = parseAllDocuments(readFileSync(`${ROOT}deploy/kubernetes/crds.yaml`, 'utf8'))
      .map((d) => d.toJS() as { metadata: { name: string } } | null)
      .filter((d) => d !== null);
    assert.equal(crds.length, Object.keys(CRD_NAMES).length);
    await installCrds(cluster, crds);
    // NonStructuralSchema would be a condition of a CRD the API server took but flagged.
    for (const crd of crds) {
      const r = await cluster.request<{ status: { conditions: { type: string; status: string }[] } }>(
        'GET',
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
      );
      assert.ok(!r.body.status.conditions.some((c) => c.type === 'NonStructuralSchema' && c.status === 'True'), JSON.stringify(r.body.status));
    }
  });

  test('every examples/*.yaml Rollout is accepted as a custom resource under strict field validation', { timeout: 60_000 }, async () => {
    const rollouts = examples('Rollout');
    assert.ok(rollouts.length >= 6, `only ${rollouts.length} Rollouts in examples/`);
    for (const { file, doc } of rollouts) {
      const r = await cluster.request('POST', `${collection('Rollout')}?fieldValidation=Strict`, doc);
      assert.equal(r.status, 201, `${file} ${doc.metadata.name}: ${JSON.stringify(r.body)}`);
    }
    for (const { file, doc } of examples('FeatureFlag')) {
      const r = await cluster.request('POST', `${collection('FeatureFlag')}?fieldValidation=Strict`, doc);
      assert.equal(r.status, 201, `${file} ${doc.metadata.name}: ${JSON.stringify(r.body)}`);
    }
  });

  test('a wrong-typed field is refused with 422 naming it; an unknown field is refused under Strict', { timeout: 30_000 }, async () => {
    const doc = examples('Rollout')[0]!.doc;
    const wrong = { ...doc, metadata: { name: 'wrong-type' }, spec: { ...doc.spec, replicas: 'three' } };
    const r = await cluster.request<{ message: string; reason: string }>('POST', `${collection('Rollout')}?fieldValidation=Strict`, wrong);
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.match(r.body.message, /spec\.replicas/);
    const strategy = { ...doc, metadata: { name: 'wrong-strategy' }, spec: { ...doc.spec, strategy: 'canary' } };
    const s = await cluster.request<{ message: string }>('POST', `${collection('Rollout')}?fieldValidation=Strict`, strategy);
    assert.equal(s.status, 422, JSON.stringify(s.body));
    const unknown = { ...doc, metadata: { name: 'unknown-field' }, spec: { ...doc.spec, replicaz: 3 } };
    const u = await cluster.request<{ message: string }>('POST', `${collection('Rollout')}?fieldValidation=Strict`, unknown);
    assert.ok(u.status >= 400 && u.status < 500, JSON.stringify(u.body));
    assert.match(u.body.message, /unknown field "spec\.replicaz"/);
    // Without Strict the unknown field is pruned, not stored.
    const pruned = await cluster.request<Doc>('POST', collection('Rollout'), unknown);
    assert.equal(pruned.status, 201, JSON.stringify(pruned.body));
    assert.ok(!('replicaz' in (pruned.body.spec ?? {})));
  });

  test('the status subresource takes the controller’s status; the main resource ignores it', { timeout: 30_000 }, async () => {
    const name = examples('Rollout')[0]?.doc.metadata.name ?? '';
    const status = { phase: 'Progressing', strategy: 'canary', step: 2, weight: 25 };
    const r = await cluster.request<Doc & { status?: typeof status }>(
      'PATCH',
      `${collection('Rollout')}/${name}/status`,
      { status },
      {
        contentType: 'application/merge-patch+json',
      },
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.status, status);
    const main = await cluster.request<Doc & { status?: unknown }>(
      'PATCH',
      `${collection('Rollout')}/${name}`,
      { status: { phase: 'Healthy' } },
      {
        contentType: 'application/merge-patch+json',
      },
    );
    assert.equal(main.status, 200);
    assert.equal((main.body.status as { phase: string }).phase, 'Progressing');
    // What `kubectl get sro` prints: the printer columns, read from the status.
    const agent = new Agent({ connect: { ca: readFileSync(cluster.caFile, 'utf8') } });
    try {
      const res = await fetch(`${cluster.server}${collection('Rollout')}/${name}`, {
        dispatcher: agent,
        headers: { authorization: `Bearer ${cluster.token}`, accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
      });
      const table = (await res.json()) as { columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] };
      assert.deepEqual(
        table.columnDefinitions.map((c) => c.name),
        ['Name', 'Phase', 'Strategy', 'Step', 'Weight', 'Age'],
      );
      assert.deepEqual(table.rows[0]?.cells.slice(0, 5), [name, 'Progressing', 'canary', 2, 25]);
    } finally {
      await agent.close();
    }
  });
});
