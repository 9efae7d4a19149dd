/** Token files and state-directory modes (issue 10, finding 8): fixed on start, or refused in one line. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTokenFile, secureDir, secureFile } from '../../src/util/secret-file.js';
import { ensureAdminToken, readAdminToken } from '../../src/router/credential.js';

const root = mkdtempSync(join(tmpdir(), 'sluice-secret-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('a pre-made 0755 directory and a 0644 file are taken to 0700 and 0600; an absent file stays absent', () => {
  const dir = join(root, 'state');
  secureDir(dir);
  chmodSync(dir, 0o755);
  secureDir(dir);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  writeFileSync(join(dir, 'db'), 'x', { mode: 0o644 });
  secureFile(join(dir, 'db'));
  assert.equal(statSync(join(dir, 'db')).mode & 0o777, 0o600);
  assert.doesNotThrow(() => secureFile(join(dir, 'absent')));
});

test('a token file is created 0600 with 64 hex characters, and read back the same', () => {
  const file = join(root, 'fresh-token');
  const t = ensureTokenFile(file, 'test token file');
  assert.match(t, /^[0-9a-f]{64}$/);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(ensureTokenFile(file, 'test token file'), t);
});

test('a short token or one readable by others is refused with one line saying what to do; an empty one is replaced', () => {
  const file = join(root, 'weak-token');
  writeFileSync(file, 'abc\n', { mode: 0o600 });
  assert.throws(() => ensureTokenFile(file, 'test token file'), {
    message: `test token file ${file} is too short (3 characters, at least 32) — delete it and start sluice again (\`sluice up\`) to make a new one`,
  });
  writeFileSync(file, 'a'.repeat(64));
  chmodSync(file, 0o640);
  assert.throws(() => ensureTokenFile(file, 'test token file'), /is readable by group or others \(mode 0640\) and may have leaked — delete it/);
  writeFileSync(file, '');
  chmodSync(file, 0o644);
  assert.match(ensureTokenFile(file, 'test token file'), /^[0-9a-f]{64}$/);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  // Owner-only but not 0600 (0400, say): taken to 0600.
  chmodSync(file, 0o400);
  ensureTokenFile(file, 'test token file');
  assert.equal(statSync(file).mode & 0o777, 0o600);
});

test("the router's admin token lives in <state-dir>/router/admin-token, both directories 0700", () => {
  const stateDir = join(root, 'router-state');
  assert.throws(() => readAdminToken(stateDir), /no .*router\/admin-token: no router was started with this state directory/);
  const t = ensureAdminToken(stateDir);
  assert.equal(readAdminToken(stateDir), t);
  assert.equal(statSync(stateDir).mode & 0o777, 0o700);
  assert.equal(statSync(join(stateDir, 'router')).mode & 0o777, 0o700);
  assert.equal(statSync(join(stateDir, 'router', 'admin-token')).mode & 0o777, 0o600);
});
