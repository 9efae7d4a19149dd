import { readFileSync } from 'node:fs';

/**
 * Signals and liveness checks for instance processes. Every instance leads its own
 * process group (spawned detached), so signals go to the group: helpers it forked die
 * with it.
 */

/** The process start time from /proc/<pid>/stat (field 22, clock ticks since boot), or undefined where /proc is missing. */
export function readProcStartTime(pid: number): string | undefined {
  const fields = readStatFields(pid);
  return fields?.[19];
}

/** Whether `pid` names a live process (a zombie counts as gone). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return readStatFields(pid)?.[0] !== 'Z';
}

/**
 * Whether a live `pid` is the same process that was recorded: its /proc start time
 * must match, so a pid the OS has handed to another process is not mistaken for ours.
 */
export function isSameProcess(pid: number, procStartTime: string | undefined): boolean {
  if (!isProcessAlive(pid)) return false;
  if (procStartTime === undefined) return true;
  const now = readProcStartTime(pid);
  return now === undefined || now === procStartTime;
}

/**
 * Send `signal` to the process group led by `pid`, or to `pid` alone if it is alive but
 * no longer leads a group (it called setsid itself). False if there was nobody to signal.
 */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    if (!isProcessAlive(pid)) return false;
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/** SIGKILL whatever is left in the group of a leader that already exited (helpers it forked). */
export function sweepGroup(pid: number): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Nobody left in the group: the usual case.
  }
}

/** Fields 3.. of /proc/<pid>/stat (state first), split after the command name, which may hold spaces. */
function readStatFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}
