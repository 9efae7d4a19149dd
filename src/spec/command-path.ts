import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/**
 * Whether `command` would start: a name without "/" is looked up on PATH (as spawn's
 * execvp does), a path is taken relative to the instance's working directory. For lint,
 * which runs where the user is; the control plane's PATH may differ, hence a warning.
 */
export function commandExists(command: string, cwd: string | undefined, path: string | undefined = process.env.PATH): boolean {
  if (command.includes('/')) return isExecutable(isAbsolute(command) ? command : resolve(cwd ?? '.', command));
  return (path ?? '').split(delimiter).some((dir) => dir !== '' && isExecutable(join(dir, command)));
}

function isExecutable(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
