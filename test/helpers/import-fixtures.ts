import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertText } from '../../src/cli/convert.js';
import { lintFile } from '../../src/spec/lint.js';
import { loadResources } from '../../src/spec/load.js';
import { REPO } from './templates.js';

/**
 * Checks one import fixture (test/fixtures/import/PEER/NAME.yaml) against its expected
 * files: `sluice lint` loads it with exactly the warnings of expected/NAME.warnings (plus
 * sluice's own lint warnings, which are told apart by their lowercase kind), `convert` prints
 * expected/NAME.yaml byte for byte, and that YAML loads to the same specs as the fixture.
 */
export function checkFixture(peer: 'argo' | 'flagger', name: string): void {
  const relative = `test/fixtures/import/${peer}/${name}.yaml`;
  const path = join(REPO, relative);
  const text = readFileSync(path, 'utf8');
  const expectedYaml = readFileSync(join(REPO, `test/fixtures/import/${peer}/expected/${name}.yaml`), 'utf8');
  const expectedWarnings = readFileSync(join(REPO, `test/fixtures/import/${peer}/expected/${name}.warnings`), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.replace(/^warning: /, ''));

  const lint = lintFile(path);
  assert.equal(lint.error, undefined);
  assert.equal(lint.ok, true);
  const imported = lint.warnings.filter((w) => / is not supported by sluice: /.test(w)).map((w) => w.replaceAll(path, relative));
  assert.deepEqual(imported, expectedWarnings);
  // Every other warning is sluice's own lint of the translated rollout (not the import's).
  for (const w of lint.warnings.filter((x) => !/ is not supported by sluice: /.test(x))) assert.match(w, /: rollout "[^"]+": spec\./);

  const converted = convertText(text, relative);
  assert.equal(`${converted.yaml.replace(/\n$/, '')}\n`, expectedYaml);
  assert.deepEqual(converted.warnings, expectedWarnings);

  // The expected YAML is sluice's own: it loads without import warnings to the same resources.
  const fromPeer = loadResources(text, path);
  const fromSluice = loadResources(expectedYaml, path);
  assert.deepEqual(
    fromSluice.map((r) => r.warnings),
    fromSluice.map(() => undefined),
  );
  assert.deepEqual(
    fromSluice.map((r) => ({ kind: r.kind, value: r.value })),
    fromPeer.map((r) => ({ kind: r.kind, value: r.value })),
  );
}

/** Loading `text` fails with one line naming the file, line (and column), field and problem. */
export function assertImportError(text: string, pattern: RegExp): void {
  assert.throws(
    () => loadResources(text, 'bad.yaml'),
    (err: Error) => {
      assert.equal(err.name, 'UserError', err.stack);
      assert.doesNotMatch(err.message, /\n/);
      assert.match(err.message, pattern);
      return true;
    },
  );
}
