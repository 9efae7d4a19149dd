import { position, skipTrivia } from './parse.js';

/**
 * SQLite statements of a file, split at semicolons outside strings, quoted names, comments
 * and a trigger's BEGIN … END body. SQLite's dialect is not PostgreSQL's, so its files are
 * not parsed into a tree: the SQLite rules read the statement text.
 */
export interface SqliteStatement {
  sql: string;
  start: number;
  end: number;
  line: number;
  col: number;
  leading: string;
}

export function splitSqlite(text: string): SqliteStatement[] {
  const out: SqliteStatement[] = [];
  let from = 0;
  let i = 0;
  let depth = 0;
  const push = (to: number) => {
    const start = skipTrivia(text, from, to);
    const sql = text.slice(start, to).trimEnd();
    if (sql) {
      const p = position(text, start);
      out.push({ sql, start, end: start + sql.length, line: p.line, col: p.col, leading: text.slice(from, start) });
    }
  };
  while (i < text.length) {
    const c = text[i];
    if (c === "'" || c === '"' || c === '`') {
      const close = text.indexOf(c, i + 1);
      i = close === -1 ? text.length : close + 1;
      // A doubled quote continues the string.
      while (text[i] === c) {
        const next = text.indexOf(c, i + 1);
        i = next === -1 ? text.length : next + 1;
      }
    } else if (c === '[') {
      const close = text.indexOf(']', i + 1);
      i = close === -1 ? text.length : close + 1;
    } else if ((c === '-' && text[i + 1] === '-') || (c === '/' && text[i + 1] === '*')) {
      if (c === '-') {
        const nl = text.indexOf('\n', i);
        i = nl === -1 ? text.length : nl + 1;
      } else {
        const close = text.indexOf('*/', i + 2);
        i = close === -1 ? text.length : close + 2;
      }
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < text.length && /[A-Za-z0-9_$]/.test(text[j])) j++;
      const word = text.slice(i, j).toUpperCase();
      if (word === 'BEGIN' && /^\s*CREATE\s+(TEMP\s+|TEMPORARY\s+)?TRIGGER\b/i.test(text.slice(skipTrivia(text, from), j))) depth++;
      else if (word === 'CASE' && depth > 0) depth++;
      else if (word === 'END' && depth > 0) depth--;
      i = j;
    } else if (c === ';' && depth === 0) {
      push(i);
      from = i + 1;
      i++;
    } else i++;
  }
  push(text.length);
  return out;
}
