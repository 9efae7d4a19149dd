import { environmentDocument, pipelineDocument } from './pipeline.js';
import { isMap, isScalar, Lexer, LineCounter, parseAllDocuments } from 'yaml';
import type { Document, Node, Scalar } from 'yaml';
import { UserError } from '../util/errors.js';
import { rolloutDocument, type RolloutOptions } from './rollout.js';
import { analysisTemplateDocument } from './analysis.js';
import { featureFlagDocument, featureFlagsDocument, flagdDocument, isFlagdDocument, type LoadedFlagSet } from './flags.js';
import { Ctx, describe, suggest, type Decoder, type ListenUse } from './schema.js';
import { API_VERSION, type RolloutSpec } from '../core/spec.js';
import { LIMITS } from './limits.js';
import { checkSpecSize } from './source.js';
import { FileIndex, finishImports, importDocument, sluiceText } from './import/index.js';

export interface LoadedRollout {
  spec: RolloutSpec;
  /** The document's own YAML text. */
  source: string;
  file: string;
  line: number;
}

/** How the control plane reads a manifest: a Rollout's rules depend on its default platform. */
export type LoadOptions = RolloutOptions;

/** One decoder per kind; a new resource kind (AnalysisTemplate…) is one more entry (json-schema.ts gives it a schema). */
export const KINDS = {
  Rollout: rolloutDocument,
  AnalysisTemplate: () => analysisTemplateDocument(),
  FeatureFlag: () => featureFlagDocument(),
  /** Also flagd's flag-definition JSON as-is: a document with `flags:` and no apiVersion/kind. */
  FeatureFlags: () => featureFlagsDocument(),
  Environment: () => environmentDocument(),
  Pipeline: () => pipelineDocument(),
} satisfies Record<string, (file: string) => Decoder<unknown>>;

export type Kind = keyof typeof KINDS;
type Decoded<K extends Kind> = ReturnType<(typeof KINDS)[K]> extends Decoder<infer T> ? T : never;

export type LoadedResource = { [K in Kind]: { kind: K; value: Decoded<K>; source: string; file: string; line: number } }[Kind] & {
  /** An imported Argo Rollouts / Flagger document's fields sluice does not carry over (src/spec/import/). */
  warnings?: string[];
};

/**
 * Parse every document of a YAML file, each checked against its kind's schema with all
 * defaults applied. All or nothing: the first problem (documents in order) throws a
 * one-line UserError "file:line:col: field: what is wrong — what to do".
 */
export function loadResources(text: string, file: string, options: LoadOptions = {}): LoadedResource[] {
  // Bytes at most 3 × UTF-16 units: only a text that may be over the limit is measured.
  if (text.length * 3 > LIMITS.fileBytes) checkSpecSize(Buffer.byteLength(text), file);
  checkAliasCount(text, file);
  const lines = new LineCounter();
  // uniqueKeys: false — yaml's check is quadratic; schema.ts's entries() checks duplicates.
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const out: LoadedResource[] = [];
  const names = new Map<string, number>();
  const listens: Array<ListenUse & { owner: string }> = [];
  const flagLines = new Map<string, number>();
  const evaluators = new Map<string, { json: string; line: number }>();
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return { line, col, where: `${file}:${line}:${col}` };
  };
  const all = Array.isArray(docs) ? docs : [];
  if (all.length > LIMITS.documents) {
    throw new UserError(`${file}: has ${all.length} documents, more than the limit of ${LIMITS.documents} — split it into several files`);
  }
  // Argo Rollouts and Flagger documents are read as sluice's own kinds (src/spec/import/).
  const imports = new FileIndex(all as Document[]);
  for (const doc of all) {
    const syntax = doc.errors[0];
    if (syntax) {
      const message = syntax.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw new UserError(`${at(syntax.pos[0]).where}: YAML syntax error: ${message} — fix the YAML syntax`);
    }
    const root = doc.contents as Node | null;
    if (root === null || (isScalar(root) && root.value === null)) continue;
    const ctx: Ctx = new Ctx(doc as Document, file, lines);
    const flagd = isFlagdDocument(root);
    const imported = flagd ? undefined : importDocument(root, ctx, imports);
    if (imported === 'skip') continue;
    const kind = flagd ? 'FeatureFlags' : imported ? imported.kind : checkHeader(root, ctx);
    const decoder: (file: string) => Decoder<unknown> = kind === 'Rollout' ? (f) => rolloutDocument(f, options) : KINDS[kind];
    const value = flagd ? flagdDocument()(root, ctx) : decoder(file)(imported?.node ?? root, ctx);
    if (kind === 'FeatureFlag' || kind === 'FeatureFlags') {
      checkFlagKeys(value as LoadedFlagSet, flagLines, file);
      // flagd has one $evaluators namespace: the data plane gets the union, so a name means one rule.
      for (const [name, rule] of Object.entries((value as LoadedFlagSet).evaluators)) {
        const json = JSON.stringify(rule);
        const line = at(root.range?.[0] ?? 0).line;
        const earlier = evaluators.get(name);
        if (earlier && earlier.json !== json) {
          throw new UserError(
            `${file}:${line}: evaluator "${name}" is defined differently at lines ${earlier.line} and ${line} — give one of them another name`,
          );
        }
        evaluators.set(name, { json, line });
      }
    }
    const start = root.range?.[0] ?? 0;
    const name = (value as { name: string }).name;
    const owner = `${kind.toLowerCase()} "${name}"`;
    const line = at(start).line;
    const earlier = names.get(`${kind}/${name}`);
    if (earlier !== undefined) {
      throw new UserError(`${file}:${line}: ${kind} "${name}" is defined twice, at lines ${earlier} and ${line} — keep one of them, or rename one`);
    }
    names.set(`${kind}/${name}`, line);
    for (const use of ctx.listens) {
      const clash = listens.find((l) => sameSocket(l.address, use.address));
      if (clash) {
        throw new UserError(
          `${at(use.offset).where}: ${use.path}: ${use.address} is already used by ${clash.path} of ${clash.owner} at line ${at(clash.offset).line} — give each listener its own port`,
        );
      }
      listens.push({ ...use, owner });
    }
    const source = imported ? sluiceText(imported.node, doc as Document) : documentText(text, doc as Document);
    out.push({ kind, value, source, file, line, ...(imported ? { warnings: imported.warnings } : {}) } as LoadedResource);
  }
  finishImports(imports, all as Document[], out, (r) => at(r.range?.[0] ?? 0).where);
  if (out.length === 0) {
    throw new UserError(`${file}:1:1: the file has no documents — add a Rollout (see examples/ and docs/spec.md)`);
  }
  return out;
}

/** A flag key is defined once per file (across its FeatureFlag, FeatureFlags and flagd documents), and a file has at most LIMITS.flags. */
function checkFlagKeys(set: LoadedFlagSet, seen: Map<string, number>, file: string): void {
  for (const flag of set.flags) {
    const line = set.lines[flag.name] ?? 1;
    const earlier = seen.get(flag.name);
    if (earlier !== undefined) {
      throw new UserError(`${file}:${line}: flag "${flag.name}" is defined twice, at lines ${earlier} and ${line} — keep one of them, or rename one`);
    }
    seen.set(flag.name, line);
    if (seen.size > LIMITS.flags) throw new UserError(`${file}:${line}: has more than ${LIMITS.flags} flags — split them into several files`);
  }
}

/**
 * Parse one or more YAML documents into Rollout specs with every default applied.
 * Relative `template.cwd` is resolved against the file's directory (the default cwd).
 * Throws UserError with a one-line "file:line:col: field: what is wrong — what to do".
 */
export function loadRollouts(text: string, file: string, options: LoadOptions = {}): LoadedRollout[] {
  return loadResources(text, file, options)
    .filter((r) => r.kind === 'Rollout')
    .map(({ value, source, file: f, line }) => ({ spec: value, source, file: f, line }));
}

/**
 * Refuses a file with more aliases than a document may use before composing it: yaml
 * builds every alias node first, which for 20,000 of them takes seconds. The lexer alone
 * is a third of the cost, and runs only when the text has that many "*" at all.
 */
function checkAliasCount(text: string, file: string): void {
  let stars = 0;
  for (let i = text.indexOf('*'); i !== -1 && stars <= LIMITS.aliases; i = text.indexOf('*', i + 1)) stars++;
  if (stars <= LIMITS.aliases) return;
  let aliases = 0;
  for (const token of new Lexer().lex(text)) {
    if (token[0] === '*' && ++aliases > LIMITS.aliases) {
      throw new UserError(`${file}: has more than ${LIMITS.aliases} aliases (*name) — write the values out, or split the file`);
    }
  }
}

function checkHeader(root: Node, ctx: Ctx): Kind {
  if (!isMap(root)) ctx.fail(root, `a document must be a mapping, got ${describe(root)}`, 'start it with apiVersion, kind, metadata and spec');
  const field = (name: string) => {
    const pair = root.items.find((p) => isScalar(p.key) && p.key.value === name);
    if (!pair) return ctx.key(name).fail(root, 'missing required field', `add ${name}: ${name === 'kind' ? 'Rollout' : API_VERSION}`);
    return pair.value as Node;
  };
  const apiVersion = field('apiVersion');
  if (!isScalar(apiVersion) || apiVersion.value !== API_VERSION) {
    ctx.key('apiVersion').fail(apiVersion, `must be ${API_VERSION}, got ${describe(apiVersion)}`, `write apiVersion: ${API_VERSION}`);
  }
  const kind = field('kind');
  const known = Object.keys(KINDS);
  if (!isScalar(kind) || typeof kind.value !== 'string' || !Object.hasOwn(KINDS, kind.value)) {
    const hint = isScalar(kind) && typeof kind.value === 'string' ? suggest(kind.value, known) : undefined;
    ctx
      .key('kind')
      .fail(
        kind,
        `must be ${known.slice(0, -1).join(', ')} or ${known.at(-1)}, got ${describe(kind)}`,
        hint ? `did you mean "${hint}"?` : `sluice reads kind: ${known.join(', ')}`,
      );
  }
  return (kind as Scalar).value as Kind;
}

/** Two listeners clash on the same port when their hosts are equal or one is a wildcard. */
function sameSocket(a: string, b: string): boolean {
  const split = (s: string) => {
    const i = s.lastIndexOf(':');
    const host = s.slice(0, i).toLowerCase();
    return { host: host === 'localhost' ? '127.0.0.1' : host, port: s.slice(i + 1) };
  };
  const x = split(a);
  const y = split(b);
  const wildcard = (h: string) => h === '0.0.0.0' || h === '[::]';
  return x.port === y.port && (x.host === y.host || wildcard(x.host) || wildcard(y.host));
}

/** The document's text without its `---` marker line. */
function documentText(text: string, doc: Document): string {
  const [start, , end] = doc.range!;
  const body = text.slice(start, end).replace(/^---[ \t]*\r?\n/, '');
  return body.endsWith('\n') ? body : `${body}\n`;
}
