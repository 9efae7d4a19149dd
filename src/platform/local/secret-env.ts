import { readFileSync } from 'node:fs';
import type { SecretRef, Template } from '../../core/spec.js';

/**
 * The values behind a template's `secretEnv`, read when a process starts: from a file
 * (one trailing newline dropped, as `echo secret > file` writes one) or from the control
 * plane's own environment. They live only in the child's environment, never in a record.
 */
export function resolveSecretEnv(template: Template, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, ref] of Object.entries(template.secretEnv ?? {})) out[name] = secretValue(name, ref, env);
  return out;
}

/** Why a secret cannot be read, as the instance's status message; the value itself never appears. */
export class SecretEnvError extends Error {}

function secretValue(name: string, ref: SecretRef, env: NodeJS.ProcessEnv): string {
  if (!('file' in ref) && !('env' in ref)) {
    // The loader refuses this on the local platform; a record from elsewhere still fails one instance, not the platform.
    throw new SecretEnvError(`secretEnv ${name}: names a Kubernetes Secret (secretKeyRef), which the local platform cannot read`);
  }
  if ('env' in ref) {
    const v = env[ref.env];
    if (v === undefined) throw new SecretEnvError(`secretEnv ${name}: ${ref.env} is not set in the control plane's environment`);
    return v;
  }
  try {
    return readFileSync(ref.file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SecretEnvError(`secretEnv ${name}: cannot read ${ref.file}${code ? ` (${code})` : ''}`);
  }
}
