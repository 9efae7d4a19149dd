import { runsOutsideTransaction } from '../load.js';
import { constraints, hasTypmods, list, names, notNullCheckColumn, type Obj, relName, typeName, unwrap, volatility } from './pg-ast.js';
import type { StatementContext } from './state.js';
import type { Hit } from './types.js';

/**
 * PostgreSQL rules over the parse tree of one statement. Returns the rules that fire, and
 * whether the statement is DML; severity and waivers are applied by the caller (index.ts).
 */
export function checkPostgres(node: Obj, ctx: StatementContext): Hit[] {
  const [type, b] = unwrap(node);
  const hits: Hit[] = [];
  const tx = transactionOf(ctx);
  if (ctx.standalone && !ctx.file.lockTimeout && takesLocks(type, b)) {
    ctx.file.lockTimeout = true; // one finding per file is enough
    hits.push({ rule: 'require-lock-timeout', message: 'takes locks before any `SET lock_timeout` in the file' });
  }
  if (runsOutsideTransaction(node) && ctx.file.explicitTx) {
    hits.push({ rule: 'concurrently-in-transaction', message: 'runs between BEGIN and COMMIT: PostgreSQL refuses it in a transaction block' });
  }
  switch (type) {
    case 'TransactionStmt':
      hits.push(...transaction(b, ctx));
      break;
    case 'VariableSetStmt':
      if (b.name === 'lock_timeout') ctx.file.lockTimeout = true;
      break;
    case 'CreateStmt':
      ctx.file.created.add(relName(b.relation));
      hits.push(...createTable(b));
      break;
    case 'IndexStmt':
      if (!b.concurrent && !ctx.file.created.has(relName(b.relation)))
        hits.push({ rule: 'require-concurrent-index', message: `CREATE INDEX on ${relName(b.relation)} without CONCURRENTLY blocks writes to it` });
      break;
    case 'DropStmt':
      hits.push(...drop(b));
      break;
    case 'RenameStmt':
      if (b.renameType === 'OBJECT_COLUMN') hits.push({ rule: 'rename-column', message: `renames ${relName(b.relation)}.${b.subname} to ${b.newname}` });
      else if (b.renameType === 'OBJECT_TABLE') hits.push({ rule: 'rename-table', message: `renames ${relName(b.relation)} to ${b.newname}` });
      break;
    case 'AlterTableStmt':
      if (b.objtype === 'OBJECT_TABLE') for (const c of list(b.cmds)) hits.push(...alterTable(relName(b.relation), unwrap(c)[1], ctx, tx));
      break;
    case 'UpdateStmt':
    case 'DeleteStmt':
      hits.push(...backfill(ctx, type === 'UpdateStmt' ? 'UPDATE' : 'DELETE'));
      break;
    case 'InsertStmt': {
      const [, sel] = unwrap(b.selectStmt);
      if (list(sel.fromClause).length > 0) hits.push(...backfill(ctx, 'INSERT … SELECT'));
      break;
    }
  }
  return hits;
}

export const DML_TYPES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'CopyStmt']);

/** Which transaction a statement runs in: same key = same transaction. */
function transactionOf(ctx: StatementContext): string {
  if (ctx.file.explicitTx) return `block${ctx.file.txBlock}`;
  if (ctx.noTransaction || ctx.standalone) return `alone${ctx.index}`;
  return `section:${ctx.phase}`;
}

function takesLocks(type: string, b: Obj): boolean {
  if (type === 'CreateStmt') return JSON.stringify(b).includes('"CONSTR_FOREIGN"');
  return ['AlterTableStmt', 'IndexStmt', 'DropStmt', 'RenameStmt', 'CreateTrigStmt', 'TruncateStmt', 'ReindexStmt'].includes(type);
}

function transaction(b: Obj, ctx: StatementContext): Hit[] {
  const kind = String(b.kind ?? '');
  const opens = kind === 'TRANS_STMT_BEGIN' || kind === 'TRANS_STMT_START';
  const closes = kind === 'TRANS_STMT_COMMIT' || kind === 'TRANS_STMT_ROLLBACK' || kind === 'TRANS_STMT_PREPARE';
  const nested = opens && ctx.file.explicitTx;
  if (opens) {
    ctx.file.explicitTx = true;
    ctx.file.txBlock++;
  }
  if (closes) ctx.file.explicitTx = false;
  const word = kind.replace('TRANS_STMT_', '');
  if (ctx.standalone) return nested ? [{ rule: 'transaction-control', message: 'BEGIN inside a transaction that is already open' }] : [];
  return [
    {
      rule: 'transaction-control',
      message: `${word} in a migration file: sluice runs each section in its own transaction`,
    },
  ];
}

function createTable(b: Obj): Hit[] {
  const hits: Hit[] = [];
  const tableKeys = new Set<string>();
  for (const e of list(b.tableElts)) {
    const [t, c] = unwrap(e);
    if (t === 'Constraint' && (c.contype === 'CONSTR_PRIMARY' || c.contype === 'CONSTR_FOREIGN'))
      for (const k of names(c.contype === 'CONSTR_PRIMARY' ? c.keys : c.fk_attrs)) tableKeys.add(k);
  }
  for (const e of list(b.tableElts)) {
    const [t, col] = unwrap(e);
    if (t !== 'ColumnDef') continue;
    hits.push(...columnStyle(col, tableKeys.has(String(col.colname))));
  }
  return hits;
}

function columnStyle(col: Obj, isKey: boolean): Hit[] {
  const hits: Hit[] = [];
  const tn = typeName(col.typeName);
  if (tn === 'bpchar' && hasTypmods(col.typeName)) hits.push({ rule: 'char-column', message: `column ${col.colname} is char(n)` });
  const key = isKey || constraints(col).some((c) => c.contype === 'CONSTR_PRIMARY' || c.contype === 'CONSTR_FOREIGN');
  if (key && ['int2', 'int4', 'serial', 'serial4', 'smallserial', 'serial2', 'int', 'integer', 'smallint'].includes(tn))
    hits.push({ rule: 'prefer-bigint-key', message: `key column ${col.colname} is ${tn}` });
  return hits;
}

const DROPS: Record<string, string> = {
  OBJECT_VIEW: 'view',
  OBJECT_MATVIEW: 'materialized view',
  OBJECT_FUNCTION: 'function',
  OBJECT_PROCEDURE: 'procedure',
  OBJECT_SEQUENCE: 'sequence',
  OBJECT_TYPE: 'type',
  OBJECT_SCHEMA: 'schema',
  OBJECT_TRIGGER: 'trigger',
};

function drop(b: Obj): Hit[] {
  const objs = list(b.objects).map((o) => {
    const [, ob] = unwrap(o);
    return names(ob.items).join('.') || String(ob.sval ?? '');
  });
  if (b.removeType === 'OBJECT_TABLE') return [{ rule: 'drop-table', message: `drops table ${objs.join(', ')}` }];
  if (b.removeType === 'OBJECT_INDEX' && !b.concurrent)
    return [{ rule: 'require-concurrent-index-drop', message: `DROP INDEX ${objs.join(', ')} without CONCURRENTLY locks its table` }];
  const what = DROPS[String(b.removeType)];
  if (what) return [{ rule: 'drop-object', message: `drops ${what} ${objs.join(', ')}` }];
  return [];
}

const REWRITE_TYPES = new Set(['serial', 'serial4', 'serial8', 'bigserial', 'smallserial', 'serial2']);

function alterTable(table: string, cmd: Obj, ctx: StatementContext, tx: string): Hit[] {
  const isNew = ctx.file.created.has(table);
  const hits: Hit[] = [];
  switch (cmd.subtype) {
    case 'AT_AddColumn': {
      const [, col] = unwrap(cmd.def);
      const cs = constraints(col);
      // `DEFAULT NULL` is no default: NOT NULL still fails on a table with rows.
      const def = cs.find((c) => c.contype === 'CONSTR_DEFAULT' && !isNullConst(c.raw_expr));
      const name = `${table}.${col.colname}`;
      hits.push(...columnStyle(col, false));
      if (isNew) break;
      if (cs.some((c) => c.contype === 'CONSTR_NOTNULL') && !def && !cs.some((c) => c.contype === 'CONSTR_IDENTITY' || c.contype === 'CONSTR_GENERATED'))
        hits.push({ rule: 'add-column-required', message: `adds ${name} NOT NULL without a DEFAULT` });
      if (def) {
        const v = volatility(def.raw_expr);
        if (v === 'volatile') hits.push({ rule: 'add-column-volatile-default', message: `adds ${name} with a volatile default: the table is rewritten` });
        else if (v === 'unknown') hits.push({ rule: 'add-column-unknown-default', message: `adds ${name} with a default the linter cannot classify` });
      }
      const tn = typeName(col.typeName);
      if (REWRITE_TYPES.has(tn)) hits.push({ rule: 'add-column-rewrite', message: `adds ${name} as ${tn}: the table is rewritten` });
      else if (cs.some((c) => c.contype === 'CONSTR_IDENTITY' || (c.contype === 'CONSTR_GENERATED' && c.generated_kind !== 'v')))
        hits.push({ rule: 'add-column-rewrite', message: `adds ${name} as an identity / stored generated column: the table is rewritten` });
      if (cs.some((c) => c.contype === 'CONSTR_PRIMARY' || c.contype === 'CONSTR_UNIQUE'))
        hits.push({ rule: 'unique-constraint-index', message: `adds ${name} with an inline PRIMARY KEY / UNIQUE` });
      break;
    }
    case 'AT_DropColumn':
      hits.push({ rule: 'drop-column', message: `drops ${table}.${cmd.name}` });
      break;
    case 'AT_AlterColumnType': {
      const [, col] = unwrap(cmd.def);
      const tn = typeName(col.typeName);
      hits.push({ rule: 'change-column-type', message: `changes the type of ${table}.${cmd.name} to ${tn}` });
      const cheap = tn === 'text' || (tn === 'varchar' && !hasTypmods(col.typeName));
      if (!isNew && !cheap) hits.push({ rule: 'alter-type-rewrite', message: `changing ${table}.${cmd.name} to ${tn} rewrites the table` });
      break;
    }
    case 'AT_SetNotNull':
      hits.push({ rule: 'set-not-null', message: `sets ${table}.${cmd.name} NOT NULL` });
      if (!isNew && !ctx.folder.notNullChecks.has(`${table}.${cmd.name}`))
        hits.push({ rule: 'set-not-null-scan', message: `SET NOT NULL on ${table}.${cmd.name} scans the table under an ACCESS EXCLUSIVE lock` });
      break;
    case 'AT_AddConstraint': {
      const [, c] = unwrap(cmd.def);
      const conname = String(c.conname ?? '');
      const notValid = c.skip_validation === true;
      if (c.contype === 'CONSTR_CHECK') {
        const col = notNullCheckColumn(c.raw_expr);
        if (col) ctx.folder.notNullChecks.add(`${table}.${col}`);
      }
      if (notValid && conname) ctx.file.notValid.set(`${table}.${conname}`, tx);
      if (isNew) break;
      if (c.contype === 'CONSTR_FOREIGN' && !notValid)
        hits.push({ rule: 'foreign-key-not-valid', message: `adds a foreign key on ${table} without NOT VALID` });
      if (c.contype === 'CONSTR_CHECK' && !notValid) hits.push({ rule: 'check-not-valid', message: `adds a CHECK on ${table} without NOT VALID` });
      if ((c.contype === 'CONSTR_UNIQUE' || c.contype === 'CONSTR_PRIMARY' || c.contype === 'CONSTR_EXCLUSION') && !c.indexname)
        hits.push({
          rule: 'unique-constraint-index',
          message: `adds a ${String(c.contype).replace('CONSTR_', '')} constraint on ${table} that builds its index under lock`,
        });
      break;
    }
    case 'AT_ValidateConstraint': {
      const added = ctx.file.notValid.get(`${table}.${cmd.name}`);
      if (added !== undefined && added === tx)
        hits.push({ rule: 'validate-in-same-transaction', message: `validates ${cmd.name} in the transaction that added it NOT VALID` });
      break;
    }
  }
  return hits;
}

function backfill(ctx: StatementContext, what: string): Hit[] {
  if (ctx.phase !== 'migrate') return [{ rule: 'backfill-outside-migrate', message: `${what} in the ${ctx.phase} section` }];
  if (!ctx.batched && what !== 'INSERT … SELECT') return [{ rule: 'unbatched-backfill', message: `${what} without \`-- sluice:batch\`` }];
  return [];
}

function isNullConst(expr: unknown): boolean {
  const [t, b] = unwrap(expr);
  if (t === 'TypeCast') return isNullConst(b.arg);
  return t === 'A_Const' && b.isnull === true;
}
