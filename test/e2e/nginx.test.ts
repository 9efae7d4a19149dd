/**
 * Acceptance (issue 5, nginx as a data plane): with `traffic.router: nginx` the end-to-end
 * canary, blue-green and rolling tests pass unchanged — no failed request under 200 req/s
 * through every reload — and a canary with 10 % 5xx is aborted by the builtin analysis
 * reading nginx's access log. The scenarios are the builtin router's own test files, run
 * with SLUICE_TEST_DATA_PLANE=nginx (test/helpers/sluice.ts puts every rollout on a
 * sluice-managed nginx and checks afterwards that nginx's log has the traffic).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { nginxMissing } from '../helpers/nginx.js';

const skip = nginxMissing();

function runWithNginx(file: string, namePattern: string): Promise<{ code: number; output: string }> {
  const path = fileURLToPath(new URL(file, import.meta.url));
  // A fresh test runner, not a child of this one (which would skip running the file).
  const env: NodeJS.ProcessEnv = { ...process.env, SLUICE_TEST_DATA_PLANE: 'nginx' };
  delete env.NODE_TEST_CONTEXT;
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--test', '--test-reporter=spec', `--test-name-pattern=${namePattern}`, path], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (d: Buffer) => {
      output += d;
      process.stdout.write(d);
    };
    c.stdout.on('data', keep);
    c.stderr.on('data', keep);
    c.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

function passed(output: string): number {
  return Number(/ℹ pass (\d+)/.exec(output)?.[1] ?? 0);
}

test('canary, blue-green and rolling (test/e2e/strategies.test.ts) through nginx: no failed request', { skip, timeout: 600_000 }, async () => {
  const r = await runWithNginx('./strategies.test.js', '^(canary|blue-green|rolling):');
  assert.equal(r.code, 0, 'the strategy scenarios pass with the nginx data plane');
  assert.equal(passed(r.output), 3, 'all three ran');
  assert.match(r.output, /nginx data plane: \d+ requests/);
});

test('a canary with 10 % 5xx is aborted from nginx-logged metrics (test/e2e/analysis.test.ts)', { skip, timeout: 300_000 }, async () => {
  const r = await runWithNginx('./analysis.test.js', '^canary with 10 % 5xx');
  assert.equal(r.code, 0, 'the builtin analysis aborts the bad canary with the nginx data plane');
  assert.equal(passed(r.output), 1);
  assert.match(r.output, /nginx data plane: \d+ requests/);
});
