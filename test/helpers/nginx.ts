import { spawnSync } from 'node:child_process';

/**
 * Whether the nginx data-plane tests can run. Without nginx they are skipped with a loud
 * message on a developer machine, and fail in CI (CI is set), where .ci/run installs it.
 */
export function nginxMissing(): string | false {
  const r = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  if (r.status === 0) return false;
  const message = 'nginx is not installed: the nginx data-plane tests need it (sudo apt-get install nginx-light)';
  if (process.env.CI) throw new Error(`${message}; CI must run them`);
  console.error(`\n*** SKIPPED: ${message}\n`);
  return message;
}
