import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InstanceRecord, InstanceRecordStore, InstanceStatus } from '../../src/core/platform.js';
import { REPO } from './templates.js';

export const fixture = (name: string): string => join(REPO, 'test/helpers/platform-fixtures', name);

/** InstanceRecordStore in a Map, as the SQLite store would keep them. */
export class MemoryRecords implements InstanceRecordStore {
  readonly records = new Map<string, InstanceRecord>();
  saveInstance(record: InstanceRecord): void {
    this.records.set(record.id, structuredClone(record));
  }
  deleteInstance(id: string): void {
    this.records.delete(id);
  }
  listInstances(): InstanceRecord[] {
    return [...this.records.values()].map((r) => structuredClone(r));
  }
}

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** GET http://127.0.0.1:port/path without keep-alive. */
export function get(port: number, path = '/', timeoutMs = 10_000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

/** Whether pid is running; a zombie waiting for its new parent (init) to reap it counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true;
  }
}

/** Remembers every pid the tests saw, and kills their process groups at the end. */
export class ProcessReaper {
  private readonly pids = new Set<number>();
  private readonly dirs: string[] = [];

  watch(status: InstanceStatus): void {
    if (status.pid) this.pids.add(status.pid);
  }

  track(pid: number | undefined): void {
    if (pid) this.pids.add(pid);
  }

  tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-platform-'));
    this.dirs.push(dir);
    return dir;
  }

  killAll(): void {
    for (const pid of this.pids) {
      if (pid === process.pid) continue;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}
