/**
 * The regexes users write in match rules (header, cookie and query `regex`, setHeaderRoute,
 * traffic.routes), run by RE2 (re2js, a pure-JS port): matching time is linear in the
 * value, so no pattern can hold the router's single event loop (`(a+)+$` against a long
 * header took seconds with JS RegExp and stalled every other request).
 *
 * Syntax is RE2's, which is also what nginx's PCRE reads the same way; constructs that
 * need backtracking (backreferences, lookahead, lookbehind, atomic groups, possessive
 * quantifiers) are refused where the user writes them. A regex matches the whole value.
 * A value longer than MAX_REGEX_VALUE characters never matches a regex rule, on either
 * data plane (nginx gets the same bound rendered into its pattern).
 */
import { RE2JS } from 're2js';

/** Longest value a regex rule looks at (characters; header bytes as received); longer never matches. */
export const MAX_REGEX_VALUE = 4096;

/** Constructs RE2 cannot run, each with what to write instead. */
const UNSUPPORTED: { pattern: RegExp; construct: string; fix: string }[] = [
  { pattern: /\\[1-9]|\\k</, construct: 'a backreference (\\1, \\k<name>)', fix: 'match the repeated text explicitly' },
  { pattern: /\(\?<[=!]/, construct: 'a lookbehind ((?<= or (?<!)', fix: 'match the preceding text as part of the pattern' },
  { pattern: /\(\?[=!]/, construct: 'a lookahead ((?= or (?!)', fix: 'match the following text as part of the pattern, or use two rules' },
  { pattern: /\(\?>/, construct: 'an atomic group ((?>)', fix: 'use a plain group (?:…)' },
  { pattern: /[*+?}][+]/, construct: 'a possessive quantifier (*+, ++, ?+)', fix: 'use the plain quantifier (*, +, ?)' },
];

export interface RegexProblem {
  problem: string;
  fix: string;
}

/**
 * Why `source` cannot be a match-rule regex, or undefined when it can. Checked by the spec
 * decoder and by route-table validation.
 */
export function regexProblem(source: string): RegexProblem | undefined {
  const compiled = compile(source);
  return 'problem' in compiled ? compiled : undefined;
}

/** A whole-value test, compiled once (per table). Throws "<where>: <problem>" when the regex is refused. */
export function compileValueRegex(source: string, where: string): (value: string) => boolean {
  const compiled = compile(source);
  if ('problem' in compiled) throw new Error(`${where}: ${JSON.stringify(source)} ${compiled.problem}; ${compiled.fix}`);
  const re = compiled.re;
  return (value) => value.length <= MAX_REGEX_VALUE && re.matches(value);
}

function compile(source: string): { re: RE2JS } | RegexProblem {
  if (typeof source !== 'string') return { problem: 'must be a string', fix: 'write the regular expression as a string' };
  try {
    return { re: RE2JS.compile(anchored(source)) };
  } catch (e) {
    // Only a refused pattern is searched for a construct to name, so text such as [(?=]
    // in a valid pattern is never mistaken for one.
    const plain = withoutEscapedBackslashes(source);
    const u = UNSUPPORTED.find((c) => c.pattern.test(plain));
    if (u !== undefined) return { problem: `uses ${u.construct}, which the linear-time matcher (RE2) does not support`, fix: u.fix };
    return { problem: `is not a valid RE2 regular expression (${(e as Error).message})`, fix: 'fix the pattern (RE2 syntax; it must match the whole value)' };
  }
}

function anchored(source: string): string {
  return `^(?:${source})$`;
}

/** `\\` is a literal backslash: drop those pairs so `\\1` is not taken for a backreference. */
function withoutEscapedBackslashes(source: string): string {
  return source.replace(/\\\\/g, '');
}
