import { basename, extname } from 'node:path';
import type { DatabaseEngine, MigrationPhase, MigrationStatement } from '../core/database.js';
import { MigrationError } from './errors.js';
import { BODY_TAG, type Compiled, compileReplace, syncName } from './operations/postgres.js';
import { type Replace, readOperations } from './operations/read.js';
import { parseStatements, SqlSyntaxError } from './sql/parse.js';

/**
 * `.yaml` migration files: operations (renameColumn, changeType, replaceColumns) compiled
 * to expand / migrate / contract statements that keep both shapes of a table alive while
 * the old and the new revision run side by side (docs/migrations-operations.md).
 *
 * Every statement is checked by PostgreSQL's parser (call `loadSqlParser()` first) and
 * carries its parse tree (`node`, `type`) and the position of its operation in the file.
 */
export type CompiledStatement = MigrationStatement & { node?: Record<string, unknown>; type?: string };

const ORDER: Record<MigrationPhase, number> = { expand: 0, migrate: 1, contract: 2 };

export function compileOperations(file: string, text: string, engine: DatabaseEngine): CompiledStatement[] {
  const ops = readOperations(file, text);
  if (engine !== 'postgres') {
    const op = ops[0];
    throw new MigrationError(
      file,
      op.at.line,
      op.at.col,
      `\`${op.op}\` needs PostgreSQL (SQLite's triggers cannot fill a NOT NULL column before its check) — write the SQLite migration as a .sql file`,
    );
  }
  const migration = basename(file, extname(file));
  const perTable = new Map<string, number>();
  const compiled: Compiled[] = [];
  for (const op of ops) {
    checkExpressions(file, op);
    const key = `${op.schema ?? ''}.${op.table}`;
    const n = (perTable.get(key) ?? 0) + 1;
    perTable.set(key, n);
    compiled.push(...compileReplace(op, syncName(op.table, migration, n)));
  }
  // Phase order across operations (stable sort keeps each operation's statements in order).
  compiled.sort((a, b) => ORDER[a.phase] - ORDER[b.phase]);
  return compiled.map(({ at, ...s }) => {
    let parsed: ReturnType<typeof parseStatements>;
    try {
      parsed = parseStatements(s.sql);
    } catch (err) {
      if (err instanceof SqlSyntaxError)
        throw new MigrationError(
          file,
          at.line,
          at.col,
          `this operation compiles to SQL PostgreSQL cannot parse (${err.message}) — check its type and expressions`,
        );
      throw err;
    }
    if (parsed.length !== 1) throw new MigrationError(file, at.line, at.col, 'this operation compiles to more than one statement — check its expressions');
    return { ...s, node: parsed[0].node, type: parsed[0].type };
  });
}

/** Each expression must be one SQL expression: parsed alone, as `SELECT (expr)`. */
function checkExpressions(file: string, op: Replace): void {
  const exprs: [string, string][] = [['up', op.up], ...Object.entries(op.down).map(([c, e]): [string, string] => [`down.${c}`, e])];
  if (op.to.type) {
    const at = op.where.type ?? op.at;
    let ok = false;
    try {
      const parsed = parseStatements(`SELECT CAST(NULL AS ${op.to.type}) AS v`);
      ok = parsed.length === 1 && parsed[0].type === 'SelectStmt';
    } catch (err) {
      if (!(err instanceof SqlSyntaxError)) throw err;
    }
    if (!ok)
      throw new MigrationError(
        file,
        at.line,
        at.col,
        `\`type: ${op.to.type}\` is not a type PostgreSQL can read — write e.g. \`type: bigint\` or \`numeric(12,2)\``,
      );
  }
  for (const [field, expr] of exprs) {
    const at = op.where[field] ?? op.where[field.split('.')[0]] ?? op.at;
    const bad = (why: string): never => {
      throw new MigrationError(file, at.line, at.col, `\`${field}\` ${why} — write one SQL expression over the ${field === 'up' ? 'old' : 'new'} columns`);
    };
    if (expr.includes(BODY_TAG)) bad(`contains ${BODY_TAG}`);
    let parsed: ReturnType<typeof parseStatements>;
    try {
      parsed = parseStatements(`SELECT (${expr}) AS v`);
    } catch (err) {
      if (err instanceof SqlSyntaxError) return bad(`is not an SQL expression (${err.message})`);
      throw err;
    }
    if (parsed.length !== 1 || parsed[0].type !== 'SelectStmt') bad('is more than one expression');
    const sel = parsed[0].node.SelectStmt as Record<string, unknown>;
    if (Object.keys(sel).some((k) => k !== 'targetList' && k !== 'limitOption' && k !== 'op')) bad('is more than one expression');
  }
}
