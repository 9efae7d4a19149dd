/** Writing values into nginx's configuration language safely. */

/** A double-quoted nginx string with no variable interpolation risk for `$` (use for map keys and regexes only). */
export function q(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * A double-quoted string where `$` stays literal: in directives that interpolate (return,
 * add_header), `$` becomes `${sl_dollar}`, a variable the rendered config defines as "$".
 */
export function literal(s: string): string {
  return q(s).replace(/\$/g, '${sl_dollar}');
}

/** A regular expression matching exactly `s`. */
export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** The nginx variable holding request header `name` ($http_x_user_id). */
export function headerVariable(name: string): string {
  return `$http_${name.toLowerCase().replace(/-/g, '_')}`;
}

/** nginx's `Xms` from milliseconds. */
export function ms(n: number): string {
  return `${Math.max(1, Math.round(n))}ms`;
}

/** Text for a `#` comment: one line, whatever it held (a newline would end the comment). */
export function comment(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?');
}
