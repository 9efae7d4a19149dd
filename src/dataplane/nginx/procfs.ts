/** nginx's processes as Linux shows them in /proc (process titles set by nginx). */
import { readdirSync, readFileSync } from 'node:fs';

export interface Workers {
  /** Pids of workers accepting requests. */
  current: number[];
  /** Pids of old workers finishing their requests after a reload ("worker process is shutting down"). */
  shuttingDown: number[];
}

/** The worker processes of the nginx master `masterPid`. */
export function workersOf(masterPid: number): Workers {
  const w: Workers = { current: [], shuttingDown: [] };
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== masterPid) continue;
      const title = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (title.includes('shutting down')) w.shuttingDown.push(Number(name));
      else if (title.includes('worker process')) w.current.push(Number(name));
    } catch {
      // the process ended while we looked
    }
  }
  return w;
}

/** True when `pid` is alive and is an nginx master process. */
export function isNginxMaster(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('nginx: master');
  } catch {
    return false;
  }
}
