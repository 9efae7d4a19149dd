import type { DatabaseEngine, MigrationStatement } from '../core/database.js';
import { MigrationError } from './errors.js';

/**
 * `.yaml` migration files: operations (renameColumn, changeType, replaceColumns) compiled
 * to expand / migrate / contract statements that keep both shapes of a table alive.
 */
export function compileOperations(file: string, _text: string, _engine: DatabaseEngine): MigrationStatement[] {
  throw new MigrationError(file, 1, 1, 'operation files are not built yet — write the migration as a .sql file');
}
