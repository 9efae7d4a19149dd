import { createHash } from 'node:crypto';
import type { MigrationPhase, MigrationStatement } from '../../core/database.js';
import type { At, Replace } from './read.js';

/**
 * PostgreSQL statements for one `Replace` (docs/migrations-operations.md):
 *
 * - expand: the new column (nullable), a trigger function and a BEFORE INSERT OR UPDATE
 *   trigger that fills whichever shape the writer left out, so v1 (old columns) and v2
 *   (new column) both read and write their own shape;
 * - migrate: a batched backfill of the new column for rows written before expand;
 * - contract: the trigger and function dropped, NOT NULL set safely if asked, the old
 *   columns dropped.
 */
export type Compiled = MigrationStatement & { at: At };

/** The dollar-quote tag of trigger bodies; expressions may not contain it. */
export const BODY_TAG = '$sluice$';

export const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** `sluice_<table>_<migration>_sync` (with `_<n>` for a second operation on the table), at most 63 characters. */
export function syncName(table: string, migration: string, n: number): string {
  const base = `sluice_${table}_${migration.toLowerCase().replace(/[^a-z0-9_]/g, '_')}${n > 1 ? `_${n}` : ''}`;
  const name = `${base}_sync`;
  if (name.length <= 63) return name;
  const hash = createHash('sha256').update(base).digest('hex').slice(0, 8);
  return `${base.slice(0, 63 - 14)}_${hash}_sync`;
}

export function compileReplace(r: Replace, name: string): Compiled[] {
  const t = r.schema ? `${quote(r.schema)}.${quote(r.table)}` : quote(r.table);
  const fn = r.schema ? `${quote(r.schema)}.${quote(name)}` : quote(name);
  const n = quote(r.to.name);
  const olds = r.from.map(quote);
  const st = (phase: MigrationPhase, sql: string, extra: Partial<MigrationStatement> = {}): Compiled => ({
    phase,
    sql,
    line: r.at.line,
    col: r.at.col,
    at: r.at,
    noTransaction: false,
    ...extra,
  });
  // Expressions see the row's columns by name: evaluated over a one-row subquery of NEW.
  const row = '(SELECT NEW.*) AS sluice_row';
  const up = `(SELECT (${r.up}) FROM ${row})`;
  const downAll = `SELECT ${r.from.map((f) => `(${r.down[f]})`).join(', ')} INTO ${r.from.map((f) => `NEW.${quote(f)}`).join(', ')} FROM ${row};`;
  const oldNew = r.from.length === 1 ? `NEW.${olds[0]}` : `(${olds.map((c) => `NEW.${c}`).join(', ')})`;
  const oldOld = r.from.length === 1 ? `OLD.${olds[0]}` : `(${olds.map((c) => `OLD.${c}`).join(', ')})`;
  const body = [
    'BEGIN',
    "  IF TG_OP = 'INSERT' THEN",
    `    IF NEW.${n} IS NULL THEN`,
    '      -- old shape written (v1): the new column from the old ones',
    `      NEW.${n} := ${up};`,
    `    ELSIF NEW.${n} IS DISTINCT FROM ${up} THEN`,
    '      -- new shape written (v2): the old columns from the new one',
    `      ${downAll}`,
    '    END IF;',
    `  ELSIF ${oldNew} IS DISTINCT FROM ${oldOld} THEN`,
    '    -- v1 changed the old columns: the new one follows, unless the same UPDATE set it too',
    `    IF NEW.${n} IS NOT DISTINCT FROM OLD.${n} THEN`,
    `      NEW.${n} := ${up};`,
    '    END IF;',
    `  ELSIF NEW.${n} IS DISTINCT FROM OLD.${n} AND NEW.${n} IS DISTINCT FROM ${up} THEN`,
    '    -- v2 changed the new column (the backfill writes the value `up` gives, so it changes nothing)',
    `    ${downAll}`,
    '  END IF;',
    '  RETURN NEW;',
    'END',
  ].join('\n');
  const out: Compiled[] = [];
  if (r.to.type) out.push(st('expand', `ALTER TABLE ${t} ADD COLUMN ${n} ${r.to.type}`));
  else {
    // renameColumn without `type`: the new column gets the old one's type, read from the catalog.
    const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;
    out.push(
      st(
        'expand',
        [
          `DO ${BODY_TAG}`,
          'DECLARE coltype text;',
          'BEGIN',
          `  SELECT format_type(a.atttypid, a.atttypmod) INTO coltype FROM pg_attribute a`,
          `   WHERE a.attrelid = ${lit(t)}::regclass AND a.attname = ${lit(r.from[0])} AND NOT a.attisdropped;`,
          `  IF coltype IS NULL THEN RAISE EXCEPTION 'column %.% not found', ${lit(r.table)}, ${lit(r.from[0])}; END IF;`,
          `  EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s', ${lit(t)}, ${lit(r.to.name)}, coltype);`,
          `END ${BODY_TAG}`,
        ].join('\n'),
      ),
    );
  }
  out.push(st('expand', `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS ${BODY_TAG}\n${body}\n${BODY_TAG}`));
  out.push(st('expand', `CREATE TRIGGER ${quote(name)} BEFORE INSERT OR UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION ${fn}()`));
  out.push(
    st('migrate', `UPDATE ${t} SET ${n} = (${r.up}) WHERE ${quote(r.key)} >= $1 AND ${quote(r.key)} < $2 AND ${n} IS NULL`, {
      batch: { table: r.schema ? `${r.schema}.${r.table}` : r.table, key: r.key, ...(r.batchSize ? { size: r.batchSize } : {}) },
    }),
  );
  out.push(st('contract', `DROP TRIGGER IF EXISTS ${quote(name)} ON ${t}`));
  out.push(st('contract', `DROP FUNCTION IF EXISTS ${fn}()`));
  if (r.to.notNull) {
    // SET NOT NULL alone scans the table under an ACCESS EXCLUSIVE lock; a validated CHECK
    // lets PostgreSQL (12+) skip that scan, and VALIDATE takes only a SHARE UPDATE EXCLUSIVE lock.
    const check = quote(`${name.replace(/_sync$/, '')}_nn`.slice(0, 63));
    out.push(st('contract', `ALTER TABLE ${t} ADD CONSTRAINT ${check} CHECK (${n} IS NOT NULL) NOT VALID`));
    out.push(st('contract', `ALTER TABLE ${t} VALIDATE CONSTRAINT ${check}`));
    out.push(st('contract', `ALTER TABLE ${t} ALTER COLUMN ${n} SET NOT NULL`));
    out.push(st('contract', `ALTER TABLE ${t} DROP CONSTRAINT ${check}`));
  }
  out.push(st('contract', `ALTER TABLE ${t} ${olds.map((c) => `DROP COLUMN ${c}`).join(', ')}`));
  return out;
}
