/**
 * The exposed-user sets (src/router/experiments/exposed-set.ts, exposures.ts): no false
 * negatives at 1M users, persisted and reloaded, and dropped once their experiment has been
 * out of the route table for the grace period. Real files in a temporary directory.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExposedSet, userHash } from '../../src/router/experiments/exposed-set.js';
import { ExposureSets, fileId } from '../../src/router/experiments/exposures.js';
import { sleep } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-exposed-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('1M users: every one found, 16 MiB, and few strangers mistaken for users', () => {
  const set = new ExposedSet();
  for (let i = 0; i < 1_000_000; i++) set.add(userHash(`user-${i}`));
  assert.ok(set.size >= 999_990, `${set.size} distinct hashes`);
  for (let i = 0; i < 1_000_000; i += 7) assert.ok(set.has(userHash(`user-${i}`)));
  let strangers = 0;
  for (let i = 0; i < 100_000; i++) if (set.has(userHash(`stranger-${i}`))) strangers++;
  assert.ok(strangers <= 1, `${strangers} strangers taken for exposed users`);
  assert.equal(set.bytes, 16 * 1024 * 1024);
});

test('a set is written, reloaded by a new process, and dropped after the grace out of the table', async () => {
  const sets = new ExposureSets(join(dir, 'exposed'), 200);
  const f = sets.get('shop', 'r2a1');
  for (let i = 0; i < 1000; i++) f.add(userHash(`u-${i}`));
  assert.equal(f.add(userHash('u-1')), false, 'a user is added once');
  await sets.flush();
  const again = new ExposureSets(join(dir, 'exposed'), 200).get('shop', 'r2a1');
  assert.equal(again.set.size, 1000);
  assert.ok(again.set.has(userHash('u-999')) && !again.set.has(userHash('u-1000')));
  const id = fileId('shop', 'r2a1');
  await sets.retain(new Set([id]));
  assert.ok(existsSync(join(dir, 'exposed', `${id}.bin`)), 'kept while in the table');
  await sets.retain(new Set());
  assert.ok(existsSync(join(dir, 'exposed', `${id}.bin`)), 'kept during the grace');
  await sleep(300);
  await sets.retain(new Set());
  assert.deepEqual(readdirSync(join(dir, 'exposed')), [], 'deleted after the grace');
});
