import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** A folder of migration files (name → text), removed by `cleanup()`. */
export function migrationFolder(files: Record<string, string>): { dir: string; write(name: string, text: string): void; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-migr-'));
  const write = (name: string, text: string) => writeFileSync(join(dir, name), text);
  for (const [name, text] of Object.entries(files)) write(name, text);
  return { dir, write, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A plain node-postgres client (the test's own view of the database: app, blocker, checks). */
export async function pgClient(url: string, applicationName = 'test'): Promise<pg.Client & { pid: number }> {
  const c = new pg.Client({ connectionString: url, application_name: applicationName });
  c.on('error', () => {});
  await c.connect();
  return Object.assign(c, { pid: (c as unknown as { processID: number }).processID });
}

export const settings = { revision: 1, lockTimeoutMs: 1000, statementTimeoutMs: 30_000, lockRetries: 3, retryBackoffMs: 100 };
