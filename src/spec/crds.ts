import { RE2JS } from 're2js';
import { stringify } from 'yaml';
import { API_VERSION } from '../core/spec.js';
import { kindSchema } from './json-schema.js';
import { KINDS, type Kind } from './load.js';
import type { JsonSchema } from './schema.js';

/**
 * Kubernetes CustomResourceDefinitions (apiextensions.k8s.io/v1) of sluice's kinds, in group
 * sluice.dev, version v1alpha1, made from the same JSON Schemas as schemas/ (json-schema.ts)
 * converted to the structural subset Kubernetes accepts. `node scripts/gen-crds.mjs` writes
 * deploy/kubernetes/crds.yaml; test/unit/crds.test.ts fails when the committed file is stale.
 *
 * The conversion, and where it loosens (never refusing what the loader accepts):
 * - $ref is inlined; `const` becomes a one-value enum; a draft-2020 numeric exclusiveMinimum
 *   becomes OpenAPI's minimum + exclusiveMinimum: true; a `[T, "null"]` type is T, nullable.
 * - A union (anyOf/oneOf) of integer and string is `x-kubernetes-int-or-string`. A union of
 *   one scalar type is that type with the branches' value checks (pattern, enum, bounds) as
 *   an anyOf. Any other union — number-or-string (durations, percents), mapping-or-list
 *   (labels, env), a scalar-or-mapping shorthand — is `x-kubernetes-preserve-unknown-fields`
 *   with no type: the API server stores it as written and the controller's loader checks it.
 *   `looseFields()` lists these paths; the header of crds.yaml says how many.
 * - A mapping with open keys beside named ones, or no schema for its values, preserves
 *   unknown fields; a closed one lists its properties (strict field validation refuses others).
 * - Dropped (the loader still checks them): `default` (the API server would write the
 *   defaults into stored objects), `propertyNames`, if/then (the kubernetes-platform
 *   template rule), and a `pattern` Go's RE2 cannot compile.
 * - The root `metadata` is Kubernetes' ObjectMeta (`type: object` only, as Kubernetes
 *   requires): sluice's own metadata fields (environment, service, list-form labels) are not
 *   fields of a custom resource.
 * - `status` is the controller's: phase, strategy, step, weight, message, observedGeneration,
 *   conditions, and whatever else it writes (preserved), behind the status subresource.
 */

export const CRD_GROUP = 'sluice.dev';
export const CRD_VERSION = 'v1alpha1';

/** The resource names of each kind. FeatureFlags (a set of flags) is `featureflagsets`: `featureflags` is FeatureFlag's. */
export const CRD_NAMES: Record<Kind, { plural: string; singular: string; shortNames: string[] }> = {
  Rollout: { plural: 'rollouts', singular: 'rollout', shortNames: ['sro'] },
  AnalysisTemplate: { plural: 'analysistemplates', singular: 'analysistemplate', shortNames: ['sat'] },
  FeatureFlag: { plural: 'featureflags', singular: 'featureflag', shortNames: ['sff'] },
  FeatureFlags: { plural: 'featureflagsets', singular: 'featureflagset', shortNames: ['sffs'] },
  Environment: { plural: 'environments', singular: 'environment', shortNames: ['senv'] },
  Pipeline: { plural: 'pipelines', singular: 'pipeline', shortNames: ['spl'] },
};

const PRESERVE = 'x-kubernetes-preserve-unknown-fields';
const INT_OR_STRING = 'x-kubernetes-int-or-string';
const SCALARS = new Set(['string', 'number', 'integer', 'boolean']);

class Converter {
  readonly loose: string[] = [];
  readonly droppedPatterns: string[] = [];

  constructor(private readonly defs: Record<string, JsonSchema>) {}

  private deref(s: JsonSchema): JsonSchema {
    let out = s;
    while (typeof out.$ref === 'string') {
      const name = out.$ref.replace(/^#\/\$defs\//, '');
      const target = this.defs[name];
      if (!target) throw new Error(`crds: no $defs entry ${name}`);
      const { $ref: _ref, ...rest } = out;
      out = { ...target, ...rest };
    }
    return out;
  }

  /** The types a schema admits (after $ref), 'null' included when it does. */
  private typesOf(s: JsonSchema): Set<string> {
    const d = this.deref(s);
    const alts = (d.anyOf ?? d.oneOf) as JsonSchema[] | undefined;
    if (alts && !alts.every((a) => this.validationOnly(a))) return new Set(alts.flatMap((a) => [...this.typesOf(a)]));
    if (Array.isArray(d.type)) return new Set(d.type as string[]);
    if (typeof d.type === 'string') return new Set([d.type]);
    if ('const' in d) return new Set([jsonType(d.const)]);
    if (Array.isArray(d.enum)) return new Set((d.enum as unknown[]).map(jsonType));
    return new Set(['any']);
  }

  private validationOnly(s: JsonSchema): boolean {
    return Object.keys(s).every((k) => k === 'required' || k === 'description');
  }

  preserve(path: string, description: unknown, why: string): JsonSchema {
    this.loose.push(`${path} (${why})`);
    return { ...(description ? { description } : {}), [PRESERVE]: true };
  }

  private valueChecks(s: JsonSchema, type: string, path: string): JsonSchema {
    const out: JsonSchema = {};
    const d = this.deref(s);
    if ('const' in d) out.enum = [d.const];
    else if (Array.isArray(d.enum)) out.enum = (d.enum as unknown[]).filter((v) => v !== null);
    if (type === 'string') {
      if (typeof d.minLength === 'number') out.minLength = d.minLength;
      if (typeof d.maxLength === 'number') out.maxLength = d.maxLength;
      if (typeof d.pattern === 'string') {
        if (re2Compiles(d.pattern)) out.pattern = d.pattern;
        else this.droppedPatterns.push(`${path}: ${d.pattern}`);
      }
    }
    if (type === 'number' || type === 'integer') {
      if (typeof d.minimum === 'number') out.minimum = d.minimum;
      if (typeof d.maximum === 'number') out.maximum = d.maximum;
      if (typeof d.exclusiveMinimum === 'number') {
        out.minimum = d.exclusiveMinimum;
        out.exclusiveMinimum = true;
      }
      if (typeof d.exclusiveMaximum === 'number') {
        out.maximum = d.exclusiveMaximum;
        out.exclusiveMaximum = true;
      }
      if (typeof d.multipleOf === 'number') out.multipleOf = d.multipleOf;
    }
    return out;
  }

  convert(raw: JsonSchema, path: string): JsonSchema {
    const s = this.deref(raw);
    const description = s.description;
    const desc = description ? { description } : {};
    const alts = (s.anyOf ?? s.oneOf) as JsonSchema[] | undefined;
    const types = this.typesOf(s);
    const nullable = types.delete('null');
    const nul = nullable ? { nullable: true } : {};
    if (types.has('any')) return this.preserve(path, description, 'any value');
    if (types.size === 2 && types.has('integer') && types.has('string')) return { ...desc, ...nul, [INT_OR_STRING]: true };
    if (types.size !== 1) return this.preserve(path, description, [...types].sort().join(' or '));
    const type = [...types][0] as string;

    if (alts && !alts.every((a) => this.validationOnly(a))) {
      // One type in every branch.
      if (SCALARS.has(type)) {
        const checks = alts.map((a) => this.valueChecks(a, type, path));
        const out: JsonSchema = { ...desc, type, ...nul };
        if (checks.every((c) => Object.keys(c).length > 0)) out.anyOf = checks;
        return out;
      }
      return this.preserve(path, description, `a choice of ${type} shapes`);
    }

    const out: JsonSchema = { ...desc, type, ...nul, ...this.valueChecks(s, type, path) };
    if (alts) out.anyOf = alts.map((a) => ({ required: a.required }));
    if (type === 'object') {
      const props = s.properties as Record<string, JsonSchema> | undefined;
      const extra = s.additionalProperties;
      if (props && Object.keys(props).length > 0) {
        out.properties = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, this.convert(v, `${path}.${k}`)]));
        const required = ((s.required as string[] | undefined) ?? []).filter((r) => Object.hasOwn(props, r));
        if (required.length > 0) out.required = required;
        if (extra !== false) {
          out[PRESERVE] = true;
          this.loose.push(`${path}.* (open mapping)`);
        }
      } else if (extra && typeof extra === 'object') {
        out.additionalProperties = this.convert(extra as JsonSchema, `${path}.*`);
      } else if (extra !== false) {
        out[PRESERVE] = true;
        this.loose.push(`${path} (any mapping)`);
      }
      if (typeof s.maxProperties === 'number') out.maxProperties = s.maxProperties;
      if (typeof s.minProperties === 'number') out.minProperties = s.minProperties;
    }
    if (type === 'array') {
      out.items = s.items ? this.convert(s.items as JsonSchema, `${path}[]`) : this.preserve(`${path}[]`, undefined, 'any item');
      if (typeof s.minItems === 'number') out.minItems = s.minItems;
      if (typeof s.maxItems === 'number') out.maxItems = s.maxItems;
    }
    return out;
  }
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function re2Compiles(pattern: string): boolean {
  try {
    RE2JS.compile(pattern);
    return true;
  } catch {
    return false;
  }
}

const STATUS: JsonSchema = {
  type: 'object',
  description: "Written by sluice's controller (the status subresource).",
  properties: {
    phase: { type: 'string', description: 'Progressing, Paused, Healthy, Degraded, Aborted, …' },
    strategy: { type: 'string', description: 'canary, blueGreen, rolling, recreate, abTest or shadow.' },
    step: { type: 'integer', description: 'The current step of the strategy, from 1.' },
    weight: { type: 'number', description: 'Percent of traffic on the new revision.' },
    message: { type: 'string' },
    observedGeneration: { type: 'integer' },
    conditions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['type', 'status'],
        properties: {
          type: { type: 'string' },
          status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
          reason: { type: 'string' },
          message: { type: 'string' },
          lastTransitionTime: { type: 'string', format: 'date-time' },
          observedGeneration: { type: 'integer' },
        },
      },
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    },
  },
  [PRESERVE]: true,
};

const AGE = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };
const COLUMNS: Partial<Record<Kind, JsonSchema[]>> = {
  Rollout: [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    { name: 'Strategy', type: 'string', jsonPath: '.status.strategy' },
    { name: 'Step', type: 'integer', jsonPath: '.status.step' },
    { name: 'Weight', type: 'number', jsonPath: '.status.weight' },
    AGE,
  ],
};

export interface CrdResult {
  crd: JsonSchema;
  /** Paths stored as written (x-kubernetes-preserve-unknown-fields), with why. */
  loose: string[];
  droppedPatterns: string[];
}

/** The CRD of one kind. */
export function crdOf(kind: Kind): CrdResult {
  const schema = kindSchema(kind);
  const c = new Converter((schema.$defs as Record<string, JsonSchema>) ?? {});
  const props = schema.properties as Record<string, JsonSchema>;
  const names = CRD_NAMES[kind];
  const spec = props.spec ? c.convert(props.spec, 'spec') : c.preserve('spec', undefined, 'no schema');
  const root: JsonSchema = {
    type: 'object',
    description: String(schema.description).replace(/ Generated from .*$/, ' Generated from src/spec by scripts/gen-crds.mjs.'),
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec,
      status: STATUS,
    },
    ...(((schema.required as string[]) ?? []).includes('spec') ? { required: ['spec'] } : {}),
  };
  return {
    crd: {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `${names.plural}.${CRD_GROUP}`, labels: { 'app.kubernetes.io/part-of': 'sluice' } },
      spec: {
        group: CRD_GROUP,
        scope: 'Namespaced',
        names: { kind, listKind: `${kind}List`, plural: names.plural, singular: names.singular, shortNames: names.shortNames, categories: ['sluice'] },
        versions: [
          {
            name: CRD_VERSION,
            served: true,
            storage: true,
            subresources: { status: {} },
            additionalPrinterColumns: COLUMNS[kind] ?? [AGE],
            schema: { openAPIV3Schema: root },
          },
        ],
      },
    },
    loose: c.loose,
    droppedPatterns: c.droppedPatterns,
  };
}

/** Every kind's CRD, in KINDS order. */
export function crds(): Array<{ kind: Kind } & CrdResult> {
  if (API_VERSION !== `${CRD_GROUP}/${CRD_VERSION}`) throw new Error(`crds: apiVersion ${API_VERSION} is not ${CRD_GROUP}/${CRD_VERSION}`);
  return (Object.keys(KINDS) as Kind[]).map((kind) => ({ kind, ...crdOf(kind) }));
}

/** deploy/kubernetes/crds.yaml as scripts/gen-crds.mjs writes it. */
export function crdsYaml(): string {
  const all = crds();
  const header = [
    '# sluice CustomResourceDefinitions (group sluice.dev, version v1alpha1), one per kind.',
    '# Generated from src/spec (src/spec/crds.ts) by `npm run build && node scripts/gen-crds.mjs`; do not edit.',
    '# Fields stored as written and checked by the controller’s loader (x-kubernetes-preserve-unknown-fields):',
    ...all.map((c) => `#   ${c.kind}: ${c.loose.length}`),
    '# docs/kubernetes-controller.md lists why.',
  ];
  const docs = all.map((c) => stringify(c.crd, { lineWidth: 0, aliasDuplicateObjects: false }));
  return `${header.join('\n')}\n---\n${docs.join('---\n')}`;
}
