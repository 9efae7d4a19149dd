import { join } from 'node:path';
import { after, before } from 'node:test';
import { postgresMissing, startPostgres, type TestPostgres } from './postgres.js';
import { SluiceUnderTest } from './sluice.js';
import { REPO } from './templates.js';

/** The migrations' e2e app: people over PostgreSQL, shape v1 (first/last name) or v2 (full_name). */
export const PEOPLE_APP = join(REPO, 'test', 'fixtures', 'apps', 'people-app.mjs');

/** The first migration of every e2e folder: the people table v1 reads and writes. */
export const PEOPLE_TABLE = '-- sluice:expand\nCREATE TABLE people (id bigserial PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL);\n';

/**
 * One real PostgreSQL and one real `sluice up` for a test file (started in `before`,
 * stopped in `after`); `skip` is the loud reason when PostgreSQL is missing off-CI.
 */
export function sluiceWithPostgres(): { skip: string | false; sluice: () => SluiceUnderTest; db: () => TestPostgres } {
  const skip = postgresMissing();
  let sluice: SluiceUnderTest | undefined;
  let db: TestPostgres | undefined;
  before(async () => {
    if (skip) return;
    db = await startPostgres();
    sluice = await SluiceUnderTest.start();
  });
  after(async () => {
    await sluice?.down();
    await db?.stop();
  });
  return { skip, sluice: () => sluice!, db: () => db! };
}
