import type { MigrationPhase } from '../../core/database.js';

/** What the linter remembers while it walks one file (tables it created, transactions open…). */
export interface FileState {
  /** Tables created earlier in this file: empty and unseen by the app, so their locks do not matter. */
  created: Set<string>;
  /** Inside an explicit BEGIN … COMMIT of the file. */
  explicitTx: boolean;
  /** Increments at each explicit BEGIN (standalone: statements outside one each run alone). */
  txBlock: number;
  /** `SET lock_timeout` seen (standalone). */
  lockTimeout: boolean;
  /** Constraints added NOT VALID: `table.name` → the transaction they were added in. */
  notValid: Map<string, string>;
  /** SQLite: tables dropped earlier in the file (a rebuild renames a new table onto one). */
  dropped: Set<string>;
}

/** What the linter remembers across the files of a folder. */
export interface FolderState {
  /** `table.column` with a CHECK (column IS NOT NULL) added before. */
  notNullChecks: Set<string>;
}

export interface StatementContext {
  phase: MigrationPhase;
  sql: string;
  noTransaction: boolean;
  batched: boolean;
  /** Position in the file's statements. */
  index: number;
  standalone: boolean;
  file: FileState;
  folder: FolderState;
}

export function newFileState(): FileState {
  return { created: new Set(), explicitTx: false, txBlock: 0, lockTimeout: false, notValid: new Map(), dropped: new Set() };
}
