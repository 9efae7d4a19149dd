import { KINDS, type Kind } from './load.js';
import { schemaOf, type JsonSchema } from './schema.js';
import { API_VERSION } from '../core/spec.js';

/**
 * JSON Schema (draft 2020-12) for every resource kind, made from the same decoders that
 * load manifests (schema.ts), so editors and, later, Kubernetes CRDs cannot disagree with
 * the loader about a field's name, type, enum or bound. `npm run schemas` writes them to
 * schemas/; test/unit/json-schema.test.ts fails when the committed files are stale.
 * The loader checks more than a schema can say (docs/spec.md, "Editor support and JSON
 * Schema"); a schema never refuses what the loader accepts.
 */

const DRAFT = 'https://json-schema.org/draft/2020-12/schema';

/** schemas/ file of a kind: Rollout → rollout.schema.json, AnalysisTemplate → analysis-template.schema.json. */
export function schemaFileName(kind: Kind): string {
  return `${kind.replace(/(?<=[a-z])(?=[A-Z])/g, '-').toLowerCase()}.schema.json`;
}

/** A kind's document: its decoder's schema, with load.ts's header check (apiVersion, kind) as constants. */
function kindBody(kind: Kind): JsonSchema {
  // The file name only resolves relative paths (template.cwd), which a schema does not show.
  const body = schemaOf(KINDS[kind]('manifest.yaml')) as { properties: Record<string, JsonSchema> };
  body.properties.apiVersion = { const: API_VERSION, description: `write apiVersion: ${API_VERSION}` };
  body.properties.kind = { const: kind };
  return body;
}

export function kindSchema(kind: Kind): JsonSchema {
  return finish({
    $schema: DRAFT,
    title: `sluice ${kind}`,
    description: `One sluice ${kind} document (docs/spec.md). Generated from src/spec by npm run schemas; do not edit.`,
    ...kindBody(kind),
    $defs: {},
  });
}

/** Any document of a manifest: one of the kinds, told apart by `kind`. */
export function documentSchema(): JsonSchema {
  const kinds = Object.keys(KINDS) as Kind[];
  return finish({
    $schema: DRAFT,
    title: 'sluice manifest',
    description: `A document of a sluice manifest: ${kinds.join(' or ')}, told apart by kind (docs/spec.md). Generated from src/spec by npm run schemas; do not edit.`,
    // An empty document (a lone `---`) is skipped by the loader.
    type: ['object', 'null'],
    required: ['apiVersion', 'kind'],
    properties: {
      apiVersion: { const: API_VERSION, description: `write apiVersion: ${API_VERSION}` },
      kind: { enum: kinds, description: `sluice reads kind: ${kinds.join(', ')}` },
    },
    allOf: kinds.map((kind) => ({
      if: { type: 'object', properties: { kind: { const: kind } }, required: ['kind'] },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, not a thenable.
      then: { $ref: `#/$defs/${kind}` },
    })),
    $defs: Object.fromEntries(kinds.map((kind) => [kind, kindBody(kind)])),
  });
}

/** Subschemas under a schema, each with a name for a $defs entry made of it. */
function children(schema: JsonSchema, name: string): Array<{ schema: JsonSchema; name: string; set: (s: JsonSchema) => void }> {
  const out: Array<{ schema: JsonSchema; name: string; set: (s: JsonSchema) => void }> = [];
  const at = (holder: Record<string, unknown> | unknown[], key: string | number, childName: string) => {
    const value = (holder as Record<string, unknown>)[key];
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      out.push({ schema: value as JsonSchema, name: childName, set: (s) => ((holder as Record<string, unknown>)[key] = s) });
    }
  };
  for (const [keyword, value] of Object.entries(schema)) {
    if (keyword === 'properties' || keyword === '$defs') for (const key of Object.keys(value as object)) at(value as Record<string, unknown>, key, key);
    else if (keyword === 'anyOf' || keyword === 'oneOf' || keyword === 'allOf')
      for (let i = 0; i < (value as unknown[]).length; i++) at(value as unknown[], i, name);
    else if (keyword === 'items') at(schema, keyword, `${name}-item`);
    else if (keyword === 'additionalProperties') at(schema, keyword, `${name}-value`);
    else if (keyword === 'if' || keyword === 'then' || keyword === 'propertyNames') at(schema, keyword, name);
  }
  return out;
}

/**
 * Moves each large subschema that occurs more than once (analysis, metrics, headers,
 * probes…) to $defs and refers to it there, largest saving first: the Rollout schema is
 * a tenth of its inlined size. Descriptions become sentences ("Write a port…").
 */
function finish(root: JsonSchema): JsonSchema {
  const defs = root.$defs as Record<string, JsonSchema>;
  const tops = new Set<JsonSchema>([root, ...Object.values(defs)]);
  for (;;) {
    const seen = new Map<string, { count: number; names: Map<string, number> }>();
    const count = (schema: JsonSchema, name: string) => {
      for (const c of children(schema, name)) {
        const text = JSON.stringify(c.schema);
        if (!tops.has(c.schema) && text.length >= SHARED_CHARS) {
          const entry = seen.get(text) ?? { count: 0, names: new Map<string, number>() };
          entry.count++;
          entry.names.set(c.name, (entry.names.get(c.name) ?? 0) + 1);
          seen.set(text, entry);
        }
        count(c.schema, c.name);
      }
    };
    count(root, 'document');
    let best: { text: string; names: Map<string, number>; saving: number } | undefined;
    for (const [text, { count: n, names }] of seen) {
      const saving = (n - 1) * text.length;
      if (n > 1 && (!best || saving > best.saving)) best = { text, names, saving };
    }
    if (!best) break;
    // The name it has most often; a name taken already gets a number.
    const base = [...best.names].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
    let name = base;
    for (let i = 2; Object.hasOwn(defs, name); i++) name = `${base}-${i}`;
    const shared = JSON.parse(best.text) as JsonSchema;
    const replace = (schema: JsonSchema) => {
      for (const c of children(schema, '')) {
        if (!tops.has(c.schema) && JSON.stringify(c.schema) === best.text) c.set({ $ref: `#/$defs/${name}` });
        else replace(c.schema);
      }
    };
    replace(root);
    defs[name] = shared;
    tops.add(shared);
  }
  if (Object.keys(defs).length === 0) delete root.$defs;
  const sentences = (schema: JsonSchema) => {
    if (typeof schema.description === 'string') schema.description = schema.description.charAt(0).toUpperCase() + schema.description.slice(1);
    for (const c of children(schema, '')) sentences(c.schema);
  };
  sentences(root);
  return root;
}

/** Subschemas this long (as JSON) or longer are shared when repeated; smaller ones read better inline. */
const SHARED_CHARS = 300;

/** Every file of schemas/ with its text, as `npm run schemas` writes it. */
export function schemaFiles(): Array<{ file: string; text: string }> {
  const text = (s: JsonSchema) => `${JSON.stringify(s, null, 2)}\n`;
  return [
    ...(Object.keys(KINDS) as Kind[]).map((kind) => ({ file: schemaFileName(kind), text: text(kindSchema(kind)) })),
    { file: 'sluice.schema.json', text: text(documentSchema()) },
  ];
}
