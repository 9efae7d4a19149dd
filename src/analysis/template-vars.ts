/**
 * `{{args.name}}` substitution in provider configs (queries, URLs, headers, bodies,
 * argv), as in Argo Rollouts' AnalysisTemplates. Other `{{…}}` text is left alone, so a
 * query that happens to contain braces still works; an unknown arg name is an error,
 * never an empty string, because a query with a hole in it measures the wrong thing.
 */
import { UserError } from '../util/errors.js';

const ARG_REFERENCE = /\{\{\s*args\.([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*\}\}/g;

export function substitute(text: string, args: Record<string, string>): string {
  return text.replace(ARG_REFERENCE, (whole, name: string) => {
    if (Object.hasOwn(args, name)) return args[name]!;
    const known = Object.keys(args).sort();
    throw new UserError(
      `unknown argument '${name}' in '${whole}' — ${known.length > 0 ? `known args: ${known.join(', ')}` : 'the template declares no args'}; declare it under the template's args`,
      'unknown-arg',
    );
  });
}

/** Substitutes inside every string of a JSON-like value (object keys stay as written). */
export function substituteDeep(value: unknown, args: Record<string, string>): unknown {
  if (typeof value === 'string') return substitute(value, args);
  if (Array.isArray(value)) return value.map((v) => substituteDeep(v, args));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteDeep(v, args)]));
  }
  return value;
}

/** Substitutes in each value of a string map (headers, env). */
export function substituteValues(map: Record<string, string>, args: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, substitute(v, args)]));
}
