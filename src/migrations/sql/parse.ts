import { createRequire } from 'node:module';

/**
 * PostgreSQL's own parser (libpg-query: the server's grammar compiled to WASM, no native
 * build, no download) split into statements with their positions. The linter and the
 * migration loader both read files through here.
 */

/** One node of the parse tree as libpg-query returns it: `{ NodeType: { ...fields } }`. */
export type PgNode = Record<string, unknown>;

export interface ParsedStatement {
  /** The statement's text, from its first token to before its semicolon. */
  sql: string;
  /** Character offset of the first token in the text. */
  start: number;
  /** Character offset just past the statement (before the semicolon, if any). */
  end: number;
  /** 1-based line and column of the first token. */
  line: number;
  col: number;
  /** The statement node, e.g. `{ AlterTableStmt: {...} }`. */
  node: PgNode;
  /** Node type name, e.g. `AlterTableStmt`. */
  type: string;
  /** Text between the previous statement and this one (comments, directives). */
  leading: string;
}

export class SqlSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly col: number,
  ) {
    super(message);
    this.name = 'SqlSyntaxError';
  }
}

interface LibPgQuery {
  loadModule(): Promise<void>;
  parseSync(sql: string): { stmts: { stmt: PgNode; stmt_location?: number; stmt_len?: number }[] };
}

const require = createRequire(import.meta.url);
let lib: LibPgQuery | undefined;

/** Loads the WASM parser once; call before `parseStatements`. */
export async function loadSqlParser(): Promise<void> {
  if (lib) return;
  const m = require('libpg-query') as LibPgQuery;
  await m.loadModule();
  lib = m;
}

/** 1-based line and column of character offset `at` in `text`. */
export function position(text: string, at: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < at && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, col: at - lineStart + 1 };
}

/** Skips whitespace and comments from `i`; returns the offset of the next token (or text.length). */
export function skipTrivia(text: string, i: number, end = text.length): number {
  while (i < end) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') i++;
    else if (c === '-' && text[i + 1] === '-') {
      const nl = text.indexOf('\n', i);
      i = nl === -1 ? end : nl + 1;
    } else if (c === '/' && text[i + 1] === '*') {
      // PostgreSQL block comments nest.
      let depth = 0;
      while (i < end) {
        if (text[i] === '/' && text[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (text[i] === '*' && text[i + 1] === '/') {
          depth--;
          i += 2;
          if (depth === 0) break;
        } else i++;
      }
    } else break;
  }
  return Math.min(i, end);
}

/**
 * Parses `text` (a whole file) into statements. A syntax error throws SqlSyntaxError with
 * the position PostgreSQL reports.
 */
export function parseStatements(text: string): ParsedStatement[] {
  if (!lib) throw new Error('loadSqlParser() must be awaited before parseStatements');
  let tree: ReturnType<LibPgQuery['parseSync']>;
  try {
    tree = lib.parseSync(text);
  } catch (err) {
    const e = err as Error & { sqlDetails?: { cursorPosition?: number } };
    const at = charOffset(text, e.sqlDetails?.cursorPosition ?? 0);
    const p = position(text, at);
    throw new SqlSyntaxError(e.message, p.line, p.col);
  }
  const bytes = Buffer.from(text, 'utf8');
  const ascii = bytes.length === text.length;
  const toChar = (b: number) => (ascii ? b : Buffer.from(bytes.subarray(0, b)).toString('utf8').length);
  const out: ParsedStatement[] = [];
  // The parser's locations start at a statement's first token; what lies between the
  // previous statement's end and it (a semicolon, comments, directives) is its `leading`.
  let from = 0;
  for (const s of tree.stmts ?? []) {
    const to = s.stmt_len ? toChar((s.stmt_location ?? 0) + s.stmt_len) : text.length;
    const start = skipTrivia(text, toChar(s.stmt_location ?? 0), to);
    const sql = text.slice(start, to).replace(/;\s*$/, '').trimEnd();
    const p = position(text, start);
    const type = Object.keys(s.stmt)[0] ?? 'Unknown';
    out.push({ sql, start, end: start + sql.length, line: p.line, col: p.col, node: s.stmt, type, leading: text.slice(from, start) });
    from = to;
  }
  return out;
}

function charOffset(text: string, byteOffset: number): number {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === text.length) return byteOffset;
  return Buffer.from(bytes.subarray(0, byteOffset)).toString('utf8').length;
}
