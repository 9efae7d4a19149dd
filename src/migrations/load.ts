import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import type { DatabaseEngine, Migration, MigrationPhase, MigrationStatement } from '../core/database.js';
import { loadSqlParser, type ParsedStatement, parseStatements, position, SqlSyntaxError } from './sql/parse.js';
import { splitSqlite } from './sql/split-sqlite.js';
import { compileOperations } from './operations.js';
import { MigrationError } from './errors.js';

export { MigrationError };

/** A statement as the loader read it, with the parse tree when the engine is PostgreSQL. */
export interface LoadedStatement extends MigrationStatement {
  /** `{ AlterTableStmt: {...} }`; absent for SQLite and for statements compiled from operations. */
  node?: Record<string, unknown>;
  type?: string;
}

export interface LoadedMigration extends Migration {
  statements: LoadedStatement[];
  /** Text of the file (for the linter's positions). */
  text: string;
}

const FILE = /^(\d+)_[A-Za-z0-9_.-]+\.(sql|ya?ml)$/;
const DIRECTIVE = /^[ \t]*--[ \t]*sluice:([A-Za-z-]+)(.*)$/gm;
const ORDER: Record<MigrationPhase, number> = { expand: 0, migrate: 1, contract: 2 };

/** The migration files of `folder` in order (file name order; names start with a number). */
export function migrationFiles(folder: string): string[] {
  let names: string[];
  try {
    if (!statSync(folder).isDirectory())
      throw new MigrationError(folder, 1, 1, 'is not a folder — point `database.migrations` at the folder of migration files');
    names = readdirSync(folder);
  } catch (err) {
    if (err instanceof MigrationError) throw err;
    throw new MigrationError(folder, 1, 1, 'migrations folder not found — create it or fix `database.migrations`');
  }
  const files = names.filter((n) => /\.(sql|ya?ml)$/.test(n)).sort();
  for (const n of files) {
    if (!FILE.test(n)) throw new MigrationError(join(folder, n), 1, 1, 'migration file names are NNN_name.sql or NNN_name.yaml — rename it');
  }
  const seen = new Map<string, string>();
  for (const n of files) {
    const id = basename(n, extname(n));
    if (seen.has(id)) throw new MigrationError(join(folder, n), 1, 1, `two files make migration ${id} (${seen.get(id)} and ${n}) — keep one`);
    seen.set(id, n);
  }
  return files.map((n) => join(folder, n));
}

/** Every migration of the folder, parsed and split into phases. Throws MigrationError. */
export async function loadMigrations(folder: string, engine: DatabaseEngine): Promise<LoadedMigration[]> {
  await loadSqlParser();
  return migrationFiles(folder).map((file) => loadMigrationFile(file, readFileSync(file, 'utf8'), engine));
}

export function checksumOf(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** One file (its text given, so tests and the linter need no disk). `loadSqlParser()` first. */
export function loadMigrationFile(file: string, text: string, engine: DatabaseEngine): LoadedMigration {
  const id = basename(file, extname(file));
  const checksum = checksumOf(text);
  if (/\.ya?ml$/.test(file)) {
    return { id, file, checksum, text, statements: compileOperations(file, text, engine) };
  }
  const raw = engine === 'postgres' ? parsePg(file, text) : splitSqlite(text).map((s) => ({ ...s, node: undefined, type: undefined }));
  const statements: LoadedStatement[] = [];
  let phase: MigrationPhase | undefined;
  const seen = new Set<MigrationPhase>();
  const directives = (leading: string, offset: number) => {
    let batch: MigrationStatement['batch'] | undefined;
    let noTransaction = false;
    const allow: string[] = [];
    for (const m of leading.matchAll(DIRECTIVE)) {
      const at = position(text, offset + (m.index ?? 0));
      const name = m[1];
      const args = m[2].trim();
      if (name === 'expand' || name === 'migrate' || name === 'contract') {
        if (batch || noTransaction)
          throw new MigrationError(
            file,
            at.line,
            at.col,
            `\`-- sluice:${name}\` between a directive and its statement — move the directive after the section line`,
          );
        if (seen.has(name)) throw new MigrationError(file, at.line, at.col, `a second \`-- sluice:${name}\` section — keep one section per phase`);
        if (phase && ORDER[name] < ORDER[phase])
          throw new MigrationError(file, at.line, at.col, `\`-- sluice:${name}\` after \`-- sluice:${phase}\` — sections go expand, migrate, contract`);
        phase = name;
        seen.add(name);
      } else if (name === 'batch') {
        batch = parseBatchArgs(file, at, args);
      } else if (name === 'no-transaction') {
        noTransaction = true;
      } else if (name === 'allow') {
        const rules = args.split(/[\s,]+/).filter(Boolean);
        if (rules.length === 0) throw new MigrationError(file, at.line, at.col, '`-- sluice:allow` names no rule — write the rule ids it waives');
        allow.push(...rules);
      } else {
        throw new MigrationError(
          file,
          at.line,
          at.col,
          `unknown directive \`-- sluice:${name}\` — use expand, migrate, contract, batch, no-transaction or allow`,
        );
      }
    }
    return { batch, noTransaction, allow };
  };
  let lastEnd = 0;
  for (const s of raw) {
    const { batch, noTransaction, allow } = directives(s.leading, s.start - s.leading.length);
    lastEnd = s.end;
    if (!phase) throw new MigrationError(file, s.line, s.col, 'statement before any section — start the file with `-- sluice:expand` (or migrate / contract)');
    const st: LoadedStatement = {
      phase,
      sql: s.sql,
      line: s.line,
      col: s.col,
      noTransaction: noTransaction || (s.node ? runsOutsideTransaction(s.node) : /\bCONCURRENTLY\b/i.test(s.sql)),
      ...(s.node ? { node: s.node, type: s.type } : {}),
      ...(allow.length > 0 ? { allow } : {}),
    };
    if (batch) {
      if (phase !== 'migrate')
        throw new MigrationError(file, s.line, s.col, '`-- sluice:batch` outside the migrate section — move the backfill under `-- sluice:migrate`');
      st.batch = { ...batch, table: batchTable(file, s, batch.table) };
      if (!usesKeyRange(s.sql, s.node)) {
        throw new MigrationError(file, s.line, s.col, 'a batched statement must use $1 and $2 as its key range — add e.g. `WHERE id >= $1 AND id < $2`');
      }
    }
    statements.push(st);
  }
  // Sections may end the file with no statement in them (and directives with nothing after them are errors).
  const tail = text.slice(lastEnd).replace(/^\s*;/, '');
  const { batch, noTransaction, allow } = directives(tail, text.length - tail.length);
  if (batch || noTransaction || allow.length > 0) {
    const p = position(text, text.length);
    throw new MigrationError(file, p.line, p.col, 'a directive with no statement after it — remove it or add the statement');
  }
  return { id, file, checksum, text, statements };
}

function parsePg(file: string, text: string): (ParsedStatement & { node: Record<string, unknown> })[] {
  try {
    return parseStatements(text);
  } catch (err) {
    if (err instanceof SqlSyntaxError) throw new MigrationError(file, err.line, err.col, `${err.message} — fix the SQL (PostgreSQL's parser read it)`);
    throw err;
  }
}

function parseBatchArgs(file: string, at: { line: number; col: number }, args: string): { table: string; key: string; size?: number } {
  const out: { table: string; key: string; size?: number } = { table: '', key: 'id' };
  for (const part of args.split(/\s+/).filter(Boolean)) {
    const [k, v] = part.split('=');
    if (k === 'key' && v && /^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) out.key = v;
    else if (k === 'table' && v && /^[A-Za-z_][A-Za-z0-9_.]*$/.test(v)) out.table = v;
    else if (k === 'size' && v && /^[1-9]\d*$/.test(v)) out.size = Number(v);
    else throw new MigrationError(file, at.line, at.col, `\`-- sluice:batch\` takes key=COLUMN, size=N and table=NAME, not \`${part}\``);
  }
  return out;
}

function batchTable(file: string, s: { line: number; col: number; node?: Record<string, unknown>; sql: string }, given: string): string {
  if (given) return given;
  const body = s.node ? (Object.values(s.node)[0] as { relation?: { relname?: string; schemaname?: string } }) : undefined;
  const rel = body?.relation;
  if (rel?.relname) return rel.schemaname ? `${rel.schemaname}.${rel.relname}` : rel.relname;
  const m = /^\s*(?:UPDATE|DELETE\s+FROM|INSERT\s+INTO)\s+([A-Za-z_][A-Za-z0-9_.]*)/i.exec(s.sql);
  if (m) return m[1];
  throw new MigrationError(file, s.line, s.col, 'cannot tell which table this backfill walks — add table=NAME to `-- sluice:batch`');
}

function usesKeyRange(sql: string, node?: Record<string, unknown>): boolean {
  if (node) {
    const json = JSON.stringify(node);
    return json.includes('"ParamRef":{"number":1') && json.includes('"ParamRef":{"number":2');
  }
  return /\$1\b/.test(sql) && /\$2\b/.test(sql);
}

/** PostgreSQL refuses these inside a transaction block. */
export function runsOutsideTransaction(node: Record<string, unknown>): boolean {
  const [type, body] = Object.entries(node)[0] ?? [];
  const b = body as Record<string, unknown> | undefined;
  if (type === 'IndexStmt' || type === 'DropStmt') return b?.concurrent === true;
  if (type === 'ReindexStmt') return JSON.stringify(b?.params ?? []).includes('"concurrently"');
  return type === 'VacuumStmt' || type === 'CreatedbStmt' || type === 'DropdbStmt';
}
