/**
 * The CustomResourceDefinitions of sluice's kinds (src/spec/crds.ts): the committed
 * deploy/kubernetes/crds.yaml is what the generator writes, byte for byte, and every schema
 * in it keeps to the structural subset Kubernetes requires (checked here so that a mistake
 * shows without a cluster; test/integration/k8s-crds.test.ts has the API server judge).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { crds, crdsYaml } from '../../src/spec/crds.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

test('deploy/kubernetes/crds.yaml is what scripts/gen-crds.mjs writes (regenerate: npm run build && node scripts/gen-crds.mjs)', () => {
  assert.equal(readFileSync(`${ROOT}deploy/kubernetes/crds.yaml`, 'utf8'), crdsYaml());
});

test('crds.yaml parses to one CRD per kind, in group sluice.dev, version v1alpha1, with a status subresource', () => {
  const docs = parseAllDocuments(crdsYaml()).map(
    (d) => d.toJS() as { kind: string; spec: { group: string; names: { kind: string }; versions: { name: string; subresources: unknown }[] } },
  );
  assert.deepEqual(
    docs.map((d) => d.spec.names.kind),
    crds().map((c) => c.kind),
  );
  for (const d of docs) {
    assert.equal(d.kind, 'CustomResourceDefinition');
    assert.equal(d.spec.group, 'sluice.dev');
    assert.deepEqual(
      d.spec.versions.map((v) => [v.name, v.subresources]),
      [['v1alpha1', { status: {} }]],
    );
  }
});

/** Structural-schema rules of apiextensions.k8s.io/v1, the ones this generator could break. */
function checkStructural(s: Record<string, unknown>, path: string, inAnyOf = false): void {
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  const intOrString = s['x-kubernetes-int-or-string'] === true;
  for (const bad of ['$ref', 'const', 'default', 'if', 'then', 'allOf', 'propertyNames', 'oneOf', '$defs']) assert.ok(!(bad in s), `${path}: ${bad}`);
  if (inAnyOf) {
    for (const bad of ['type', 'description', 'properties', 'items', 'additionalProperties', 'nullable'])
      assert.ok(!(bad in s), `${path}: ${bad} in an anyOf branch`);
    return;
  }
  if (!preserve && !intOrString) assert.equal(typeof s.type, 'string', `${path}: needs one type`);
  if (intOrString) assert.ok(!('type' in s), `${path}: int-or-string has no type`);
  if (s.type === 'array') assert.ok(s.items, `${path}: an array needs items`);
  assert.ok(!(s.properties && s.additionalProperties), `${path}: properties and additionalProperties together`);
  if (typeof s.exclusiveMinimum !== 'undefined') assert.equal(typeof s.exclusiveMinimum, 'boolean', path);
  for (const [k, v] of Object.entries((s.properties as Record<string, Record<string, unknown>>) ?? {})) checkStructural(v, `${path}.${k}`);
  if (s.items) checkStructural(s.items as Record<string, unknown>, `${path}[]`);
  if (s.additionalProperties && typeof s.additionalProperties === 'object') checkStructural(s.additionalProperties as Record<string, unknown>, `${path}.*`);
  for (const [i, a] of ((s.anyOf as Record<string, unknown>[]) ?? []).entries()) checkStructural(a, `${path}.anyOf[${i}]`, true);
}

test('every schema is structural: one type a node, no $ref, const, default, oneOf or if/then', () => {
  for (const c of crds()) {
    const v = (c.crd.spec as { versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] }).versions[0];
    assert.ok(v);
    checkStructural(v.schema.openAPIV3Schema, c.kind);
  }
});

test('the Rollout schema keeps definite types where sluice has one (so the API server refuses a wrong one)', () => {
  const rollout = crds().find((c) => c.kind === 'Rollout')!;
  const spec = (
    rollout.crd.spec as { versions: { schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, { type?: string }> } } } } }[] }
  ).versions[0]?.schema.openAPIV3Schema.properties.spec;
  assert.equal(spec?.properties.replicas?.type, 'integer');
  assert.equal(spec?.properties.template?.type, 'object');
  assert.equal(spec?.properties.strategy?.type, 'object');
});
