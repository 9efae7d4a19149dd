import type { StatementContext } from './state.js';
import type { Hit } from './types.js';

/**
 * SQLite rules over the statement text (SQLite files are split, not parsed: its dialect is
 * not PostgreSQL's). Comments and string literals are blanked first so a word inside them
 * does not count.
 */
const NAME = String.raw`(?:"(?:[^"]|"")*"|\[[^\]]*\]|\x60[^\x60]*\x60|[A-Za-z_][A-Za-z0-9_$]*)(?:\s*\.\s*(?:"(?:[^"]|"")*"|\[[^\]]*\]|\x60[^\x60]*\x60|[A-Za-z_][A-Za-z0-9_$]*))?`;
const ALTER = new RegExp(String.raw`^ALTER\s+TABLE\s+(${NAME})\s+(.*)$`, 'is');
const DROP = new RegExp(String.raw`^DROP\s+(TABLE|VIEW|TRIGGER|INDEX)\s+(?:IF\s+EXISTS\s+)?(${NAME})`, 'i');
const CREATE_TABLE = new RegExp(String.raw`^CREATE\s+(?:TEMP\s+|TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(${NAME})`, 'i');

export function sqliteType(sql: string): string {
  const words = blank(sql).trim().split(/\s+/);
  const n = /^(CREATE|ALTER|DROP)$/i.test(words[0] ?? '') ? 2 : 1;
  return words.slice(0, n).join(' ').toUpperCase();
}

export function isSqliteDml(sql: string): boolean {
  return /^(INSERT|UPDATE|DELETE|REPLACE|WITH)\b/i.test(blank(sql).trim());
}

export function checkSqlite(sql: string, ctx: StatementContext): Hit[] {
  const s = blank(sql).trim();
  const hits: Hit[] = [];
  if (/^(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b/i.test(s)) {
    const word = s.split(/\s+/)[0].toUpperCase();
    const opens = word === 'BEGIN';
    const nested = opens && ctx.file.explicitTx;
    if (opens) ctx.file.explicitTx = true;
    if (word === 'COMMIT' || word === 'END' || (word === 'ROLLBACK' && !/\bTO\b/i.test(s))) ctx.file.explicitTx = false;
    if (!ctx.standalone || nested)
      hits.push({
        rule: 'transaction-control',
        message: nested ? 'BEGIN inside a transaction that is already open' : `${word} in a migration file: sluice runs each section in its own transaction`,
      });
    return hits;
  }
  const created = CREATE_TABLE.exec(s);
  if (created) {
    ctx.file.created.add(norm(created[1]));
    return hits;
  }
  const dropped = DROP.exec(s);
  if (dropped) {
    const kind = dropped[1].toUpperCase();
    const name = norm(dropped[2]);
    if (kind === 'TABLE') {
      ctx.file.dropped.add(name);
      hits.push({ rule: 'drop-table', message: `drops table ${name}` });
    } else if (kind !== 'INDEX') hits.push({ rule: 'drop-object', message: `drops ${kind.toLowerCase()} ${name}` });
    return hits;
  }
  const alter = ALTER.exec(s);
  if (alter) {
    const table = norm(alter[1]);
    const rest = alter[2];
    const renameTo = new RegExp(String.raw`^RENAME\s+TO\s+(${NAME})`, 'i').exec(rest);
    if (renameTo) {
      const to = norm(renameTo[1]);
      if (ctx.file.dropped.has(to)) hits.push({ rule: 'table-rebuild', message: `renames ${table} onto ${to}, dropped earlier in the file: a table rebuild` });
      else hits.push({ rule: 'rename-table', message: `renames ${table} to ${to}` });
    } else if (/^RENAME\s+/i.test(rest)) hits.push({ rule: 'rename-column', message: `renames a column of ${table}` });
    else if (/^DROP\s+/i.test(rest)) hits.push({ rule: 'drop-column', message: `drops a column of ${table}` });
    else if (/^(ALTER|MODIFY)\s+/i.test(rest))
      hits.push({ rule: 'sqlite-alter-column', message: `ALTER TABLE ${table} ${rest.split(/\s+/)[0].toUpperCase()} is not SQLite` });
    else if (/^ADD\s+/i.test(rest) && !/^ADD\s+CONSTRAINT\b/i.test(rest)) hits.push(...addColumn(table, rest));
    return hits;
  }
  if (/^(UPDATE|DELETE)\b/i.test(s) || /^INSERT\b.*\bSELECT\b.*\bFROM\b/is.test(s)) {
    const what = s.split(/\s+/)[0].toUpperCase();
    if (ctx.phase !== 'migrate') hits.push({ rule: 'backfill-outside-migrate', message: `${what} in the ${ctx.phase} section` });
    else if (!ctx.batched && what !== 'INSERT') hits.push({ rule: 'unbatched-backfill', message: `${what} without \`-- sluice:batch\`` });
  }
  return hits;
}

function addColumn(table: string, rest: string): Hit[] {
  const def = rest.replace(/^ADD\s+(COLUMN\s+)?/i, '');
  const hits: Hit[] = [];
  const hasDefault = /\bDEFAULT\b/i.test(def);
  if (/\bNOT\s+NULL\b/i.test(def) && !hasDefault)
    hits.push({ rule: 'add-column-required', message: `adds a NOT NULL column to ${table} without a DEFAULT: SQLite refuses it` });
  if (/\bDEFAULT\s*(\(|CURRENT_(TIME|DATE|TIMESTAMP)\b)/i.test(def) || /\bGENERATED\b.*\bSTORED\b|\bAS\s*\(.*\)\s*STORED\b/is.test(def))
    hits.push({
      rule: 'sqlite-add-column-default',
      message: `adds a column to ${table} with a non-constant default or a STORED generated value: SQLite refuses it`,
    });
  if (/\b(PRIMARY\s+KEY|UNIQUE)\b/i.test(def))
    hits.push({ rule: 'sqlite-add-column-unique', message: `adds a PRIMARY KEY / UNIQUE column to ${table}: SQLite refuses it` });
  // SQLite refuses these even on an empty table, so a table created in the file does not excuse them.
  return hits;
}

function norm(name: string): string {
  return name
    .replace(/\s+/g, '')
    .split('.')
    .map((p) => p.replace(/^["[`]|["\]`]$/g, '').toLowerCase())
    .join('.');
}

/** The statement with comments removed and string literals emptied (lengths kept). */
function blank(sql: string): string {
  return sql.replace(/--[^\n]*|\/\*[\s\S]*?\*\/|'(?:[^']|'')*'/g, (m) =>
    m.startsWith("'") ? `'${' '.repeat(Math.max(0, m.length - 2))}'` : ' '.repeat(m.length),
  );
}
