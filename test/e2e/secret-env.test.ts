/**
 * Acceptance (issue 10, finding 7): a secretEnv value reaches the instance but never the
 * database. A real control plane applies a rollout whose VERSION comes from a file and
 * TOKEN from the control plane's environment; then sluice.db, its WAL and shm are grepped.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SluiceUnderTest } from '../helpers/sluice.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { freePort } from '../helpers/ports.js';
import { get } from '../helpers/platform-helpers.js';
import { waitFor } from '../helpers/wait.js';

const FILE_SECRET = `file-secret-${process.pid}-c0ffee`;
const ENV_SECRET = `env-secret-${process.pid}-f00d`;

let sluice: SluiceUnderTest;
let port: number;
before(async () => {
  // The control plane (a child of this process) inherits it.
  process.env.SLUICE_E2E_TOKEN = ENV_SECRET;
  sluice = await SluiceUnderTest.start();
  port = await freePort();
});
after(async () => {
  await sluice?.down();
});

test('secretEnv values reach the instances and appear nowhere in the database, its WAL or get -o yaml', async () => {
  writeFileSync(join(sluice.dir, 'version.secret'), `${FILE_SECRET}\n`, { mode: 0o600 });
  const manifest = rolloutManifest({ version: 'v1', listen: port, replicas: 2, strategy: '    rolling: {}\n' })
    .replace('      VERSION: "v1"\n', '      OTHER: "x"\n')
    .replace('    probes:', '    secretEnv:\n      VERSION: {file: version.secret}\n      TOKEN: {env: SLUICE_E2E_TOKEN}\n    probes:');
  await sluice.apply('web.yaml', manifest);
  await waitFor(
    sluice.rollout('web', (v) => v.status.phase === 'Healthy'),
    { timeoutMs: 60_000, what: 'healthy' },
  );

  const answer = await get(port, '/');
  assert.equal(answer.status, 200);
  assert.equal(answer.headers['x-version'], FILE_SECRET, 'the instance got the value from the file');

  for (const args of [
    ['get', 'rollout', 'web', '-o', 'yaml'],
    ['get', 'rollout', 'web', '-o', 'json'],
    ['history', 'web'],
  ]) {
    const r = await sluice.cli(args);
    assert.ok(!r.stdout.includes(FILE_SECRET) && !r.stdout.includes(ENV_SECRET), `${args.join(' ')} shows no secret value`);
  }
  const dbFiles = readdirSync(sluice.stateDir).filter((f) => f.startsWith('sluice.db'));
  assert.ok(dbFiles.includes('sluice.db'), dbFiles.join(', '));
  let bytes = 0;
  for (const f of dbFiles) {
    const path = join(sluice.stateDir, f);
    if (!existsSync(path)) continue;
    const content = readFileSync(path);
    bytes += content.length;
    assert.equal(content.indexOf(FILE_SECRET), -1, `${f} holds the file secret`);
    assert.equal(content.indexOf(ENV_SECRET), -1, `${f} holds the env secret`);
  }
  assert.ok(bytes > 0);
  // The reference is what is stored (so this grep could have found a value if it were there).
  assert.ok(
    dbFiles.some((f) => readFileSync(join(sluice.stateDir, f)).includes('SLUICE_E2E_TOKEN')),
    'the reference is in the db',
  );
});
