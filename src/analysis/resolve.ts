import type { AnalysisRef, AnalysisTemplateSpec, ConcreteAnalysis } from '../core/analysis.js';

/**
 * Merge an analysis reference's templates and inline metrics into one runnable analysis,
 * with args resolved: built-ins (rollout, canaryRevision, stableRevision), then template
 * defaults, then the reference's own values. Pure; problems come back as `{error}`.
 */
export function resolveAnalysis(
  ref: AnalysisRef,
  templates: ReadonlyMap<string, AnalysisTemplateSpec>,
  builtins: Record<string, string>,
): ConcreteAnalysis | { error: string } {
  const args: Record<string, string> = { ...builtins };
  const metrics = [...ref.metrics];
  let onFailure: 'abort' | 'pause' = 'abort';
  const needed: string[] = [];
  for (const { templateName } of ref.templates) {
    const t = templates.get(templateName);
    if (!t) return { error: `AnalysisTemplate "${templateName}" not found — apply it with \`sluice apply -f FILE\`` };
    for (const a of t.args) {
      if (a.value !== undefined && args[a.name] === undefined) args[a.name] = a.value;
      else if (a.value === undefined) needed.push(a.name);
    }
    metrics.push(...t.metrics);
    if (t.onFailure === 'pause') onFailure = 'pause';
  }
  for (const a of ref.args) if (a.value !== undefined) args[a.name] = a.value;
  const missing = needed.filter((n) => args[n] === undefined);
  if (missing.length > 0) return { error: `analysis needs a value for arg(s) ${missing.join(', ')} — add args: [{name: ${missing[0]}, value: …}]` };
  const names = new Set<string>();
  for (const m of metrics) {
    if (names.has(m.name)) return { error: `two metrics are named "${m.name}" — give each metric of an analysis its own name` };
    names.add(m.name);
  }
  return { metrics, args, onFailure };
}
