import { isMap, isScalar, type Document, type Node } from 'yaml';
import type { Ctx } from '../schema.js';
import { UserError } from '../../util/errors.js';
import { analysisTemplateDocument, rolloutDocument } from './argo-rollouts.js';
import { canaryDocument, metricTemplateDocument } from './flagger.js';
import type { Imported } from './common.js';
import { DEPLOYMENT, type FileIndex, headerOf, isTrafficResource } from './file-index.js';

export { FileIndex } from './file-index.js';

export type { Imported } from './common.js';
export { sluiceText } from './common.js';

/**
 * The peers' kinds sluice reads as its own (issue 17, "Import"): by `apiVersion kind`, the
 * translator to a sluice document. load.ts asks `importDocument` before its own header check.
 */
export const IMPORT_KINDS = {
  'argoproj.io/v1alpha1 Rollout': (root, ctx, index) => rolloutDocument(root, ctx, index),
  'argoproj.io/v1alpha1 AnalysisTemplate': (root, ctx) => analysisTemplateDocument(root, ctx, 'AnalysisTemplate'),
  'argoproj.io/v1alpha1 ClusterAnalysisTemplate': (root, ctx) => analysisTemplateDocument(root, ctx, 'ClusterAnalysisTemplate'),
  'flagger.app/v1beta1 Canary': (root, ctx, index) => canaryDocument(root, ctx, index, 'v1beta1'),
  'flagger.app/v1alpha3 Canary': (root, ctx, index) => canaryDocument(root, ctx, index, 'v1alpha3'),
  'flagger.app/v1beta1 MetricTemplate': (root, ctx) => metricTemplateDocument(root, ctx),
} satisfies Record<string, (root: Node, ctx: Ctx, index: FileIndex) => Imported>;

/**
 * A peer document as a sluice one; `skip` for a Deployment another document of the file
 * took its pod template from; undefined for anything else (sluice's own kinds).
 */
export function importDocument(root: Node, ctx: Ctx, index: FileIndex): Imported | 'skip' | undefined {
  const h = headerOf(root);
  if (!h) return undefined;
  if (h.key === DEPLOYMENT) return 'skip';
  if (isTrafficResource(h.key)) {
    const { line } = ctx.lines.linePos(root.range?.[0] ?? 0);
    index.skipped.push(
      `${ctx.file}:${line}: ${h.key.split(' ')[1]} ${h.name ?? ''}: the document is not supported by sluice: sluice's own router serves the rollouts' traffic; it is left out`,
    );
    return 'skip';
  }
  const translate = Object.hasOwn(IMPORT_KINDS, h.key) ? IMPORT_KINDS[h.key as keyof typeof IMPORT_KINDS] : undefined;
  const api = h.key.split(' ')[0] ?? '';
  if (!translate && (api.startsWith('argoproj.io/') || api.startsWith('flagger.app/'))) {
    const kind = isMap(root) ? root.items.find((p) => isScalar(p.key) && p.key.value === 'kind')?.value : undefined;
    ctx
      .key('kind')
      .fail(kind as Node | undefined, `${h.key} is not a kind sluice imports`, `sluice imports ${Object.keys(IMPORT_KINDS).join(', ')} (see docs/import.md)`);
  }
  const imported = translate?.(root, ctx, index);
  if (imported) imported.warnings.sort((a, b) => lineOf(a) - lineOf(b));
  return imported;
}

/** The LINE of a "FILE:LINE: …" warning (file names may hold colons, the line is the first number field after one). */
function lineOf(warning: string): number {
  return Number(/:(\d+): /.exec(warning)?.[1] ?? 0);
}

/**
 * After every document: a Deployment no Canary or Rollout named is refused (sluice does not
 * run Deployments); the left-out documents' warnings go with the file's first resource.
 */
export function finishImports(index: FileIndex, docs: readonly Document[], out: Array<{ warnings?: string[] }>, where: (root: Node) => string): void {
  if (out[0] && index.skipped.length > 0) out[0].warnings = [...index.skipped, ...(out[0].warnings ?? [])];
  for (const doc of docs) {
    const root = doc.contents as Node | null;
    if (!root || !index.isDeployment(root)) continue;
    const name = headerOf(root)?.name ?? '';
    if (!index.used(name)) {
      throw new UserError(
        `${where(root)}: kind: Deployment "${name}" is not named by a Flagger Canary's targetRef or an Argo Rollout's workloadRef in this file — sluice does not run Deployments; write a Rollout`,
      );
    }
  }
}
