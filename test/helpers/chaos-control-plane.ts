/**
 * The control plane as the chaos test handles it: `kill -9` of whatever process api.json
 * names (the foreground `sluice up` the harness started, or a detached one), then
 * `sluice up -d` again with the same addresses, as an operator would.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isProcessAlive } from '../../src/util/process-control.js';
import { killLeftovers, type SluiceUnderTest } from './sluice.js';
import { waitFor } from './wait.js';

function controlPlanePid(sluice: SluiceUnderTest): number | undefined {
  const file = join(sluice.stateDir, 'api.json');
  if (!existsSync(file)) return undefined;
  return (JSON.parse(readFileSync(file, 'utf8')) as { pid: number }).pid;
}

/** SIGKILL of the control plane; resolves once its process is gone. Returns its pid. */
export async function kill9ControlPlane(sluice: SluiceUnderTest): Promise<number> {
  const pid = controlPlanePid(sluice);
  if (pid === undefined || !isProcessAlive(pid)) throw new Error(`no running control plane to kill (api.json names ${pid ?? 'nothing'})`);
  process.kill(pid, 'SIGKILL');
  await waitFor(() => !isProcessAlive(pid), { timeoutMs: 10_000, intervalMs: 20, what: `the control plane (pid ${pid}) to be gone after SIGKILL` });
  return pid;
}

/** `sluice up -d` with the harness's addresses; throws with its output if it fails. */
export async function upDetached(sluice: SluiceUnderTest): Promise<string> {
  const r = await sluice.cli([
    'up',
    '-d',
    '--api',
    `127.0.0.1:${sluice.apiPort}`,
    '--router-admin',
    `127.0.0.1:${sluice.routerAdminPort}`,
    '--flags-listen',
    `127.0.0.1:${sluice.flagsPort}`,
  ]);
  if (r.code !== 0) throw new Error(`sluice up -d failed (exit ${r.code}): ${r.stderr.trim()} ${r.stdout.trim()}`);
  return r.stdout.trim();
}

/** `sluice down` for a detached control plane; SIGKILL of what is left if it fails. */
export async function downDetached(sluice: SluiceUnderTest): Promise<void> {
  const pid = controlPlanePid(sluice);
  const r = await sluice.cli(['down']).catch(() => undefined);
  if (pid !== undefined && isProcessAlive(pid)) {
    // Not gone in time is handled below (SIGKILL), not a failure of its own.
    if (r?.code === 0)
      await waitFor(() => !isProcessAlive(pid), { timeoutMs: 10_000, intervalMs: 20, what: `the control plane (pid ${pid}) to exit after sluice down` }).catch(
        () => undefined,
      );
    if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  if (r?.code !== 0) killLeftovers(sluice.stateDir);
}
