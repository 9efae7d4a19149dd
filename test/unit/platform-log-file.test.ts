/** readLogFile (local platform): chunks that continue, start over after truncation and never split a line needlessly. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLogFile } from '../../src/platform/local/log-file.js';

const file = (content: string) => {
  const f = join(mkdtempSync(join(tmpdir(), 'sluice-logfile-')), 'i.log');
  writeFileSync(f, content);
  return f;
};

test('reads from the offset on; the next offset continues; nothing new is empty', () => {
  const f = file('one\ntwo\n');
  assert.deepEqual(readLogFile(f, 0, 1000), { text: 'one\ntwo\n', offset: 8 });
  assert.deepEqual(readLogFile(f, 4, 1000), { text: 'two\n', offset: 8 });
  assert.deepEqual(readLogFile(f, 8, 1000), { text: '', offset: 8 });
});

test('a chunk that does not reach the end stops after its last complete line', () => {
  const f = file('one\ntwo\nthree\n');
  assert.deepEqual(readLogFile(f, 0, 10), { text: 'one\ntwo\n', offset: 8 });
  // One line longer than the chunk: cut inside it, the rest follows.
  assert.deepEqual(readLogFile(f, 8, 4), { text: 'thre', offset: 12 });
});

test('an unfinished last line at the end is returned (the CLI keeps it until its newline)', () => {
  assert.deepEqual(readLogFile(file('done\nhalf'), 0, 1000), { text: 'done\nhalf', offset: 9 });
});

test('never splits a UTF-8 character between chunks', () => {
  const f = file('aé€😀');
  let text = '';
  let offset = 0;
  for (let i = 0; i < 20 && offset < 10; i++) {
    const chunk = readLogFile(f, offset, 4);
    assert.ok(!chunk.text.includes('\ufffd'), JSON.stringify(chunk));
    text += chunk.text;
    offset = chunk.offset;
  }
  assert.equal(text, 'aé€😀');
});

test('a file shorter than the offset (truncated, rotated) is read from its start; a missing one is empty', () => {
  assert.deepEqual(readLogFile(file('new\n'), 100, 1000), { text: 'new\n', offset: 4 });
  assert.deepEqual(readLogFile('/nonexistent/sluice.log', 5, 1000), { text: '', offset: 0 });
});
