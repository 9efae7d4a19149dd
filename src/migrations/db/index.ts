import { readFileSync } from 'node:fs';
import type { DatabaseSpec } from '../../core/database.js';
import { type DatabaseAdapter, DatabaseError, describeRef } from './adapter.js';
import { PostgresAdapter } from './postgres.js';
import { SqliteAdapter } from './sqlite.js';

/** The connection URL (PostgreSQL) from its env var or file; read when needed, never kept in specs. */
export function connectionUrl(spec: Pick<DatabaseSpec, 'connection'>, env: NodeJS.ProcessEnv = process.env): string {
  const ref = spec.connection;
  if ('env' in ref) {
    const v = env[ref.env];
    if (!v) throw new DatabaseError(`database URL: environment variable ${ref.env} is not set — export it for the control plane`);
    return v.trim();
  }
  if ('file' in ref) {
    try {
      return readFileSync(ref.file, 'utf8').trim();
    } catch {
      throw new DatabaseError(`database URL: cannot read ${ref.file} — create it (one line: postgres://…) or fix database.connection.file`);
    }
  }
  return ref.path;
}

/** The adapter for a spec's engine. */
export function openDatabase(spec: Pick<DatabaseSpec, 'engine' | 'connection'>, env: NodeJS.ProcessEnv = process.env): DatabaseAdapter {
  if (spec.engine === 'sqlite') {
    if (!('path' in spec.connection))
      throw new DatabaseError(`sqlite: connection is a file path (database.connection.path), not ${describeRef(spec.connection)}`);
    return new SqliteAdapter(spec.connection.path);
  }
  return new PostgresAdapter(connectionUrl(spec, env));
}
