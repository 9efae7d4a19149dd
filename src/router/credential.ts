/**
 * The router admin API's credential: a random token in <state-dir>/router/admin-token (0600,
 * in the 0700 state directory), so only the control plane of that state directory (and its
 * user) can drive the router. The control plane creates it before it starts the router; a
 * router started by hand creates it when absent. The router reads it at start, so a handover
 * (a fresh process) picks up a replaced file.
 */
import { join } from 'node:path';
import { UserError } from '../util/errors.js';
import { ensureTokenFile, readTokenFile, secureDir } from '../util/secret-file.js';

export const ADMIN_TOKEN_FILE = 'admin-token';
const WHAT = 'router admin token file';

export function adminTokenPath(stateDir: string): string {
  return join(stateDir, 'router', ADMIN_TOKEN_FILE);
}

/** The token, created when absent; the state and router directories are taken to 0700. */
export function ensureAdminToken(stateDir: string): string {
  secureDir(stateDir);
  secureDir(join(stateDir, 'router'));
  return ensureTokenFile(adminTokenPath(stateDir), WHAT);
}

/** The token of a router that should already run (tests, tools). */
export function readAdminToken(stateDir: string): string {
  const token = readTokenFile(adminTokenPath(stateDir), WHAT);
  if (token === undefined)
    throw new UserError(`no ${adminTokenPath(stateDir)}: no router was started with this state directory — \`sluice up\` starts one`, 'no-token');
  return token;
}
