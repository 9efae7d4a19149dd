import net from 'node:net';
import { UserError } from '../../util/errors.js';

/** Instance ports confined to `from`–`to` (inclusive), e.g. for a firewall rule. */
export interface PortRange {
  from: number;
  to: number;
}

/** `30000-30999` → {from: 30000, to: 30999}; `what` names the setting in the error. */
export function parsePortRange(text: string, what = '--instance-ports'): PortRange {
  const m = /^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$/.exec(text);
  const from = Number(m?.[1]);
  const to = Number(m?.[2]);
  if (!m || from < 1 || to > 65535 || from > to) {
    throw new UserError(`${what}: must be a port range FROM-TO within 1-65535, got ${JSON.stringify(text)} — write e.g. 30000-30999`);
  }
  return { from, to };
}

/**
 * A port on 127.0.0.1 that was free a moment ago. Without a range the OS picks one (bind
 * port 0); with one, ports are tried in turn from where the last search ended, so
 * consecutive instances do not all race for the first free port of the range.
 */
export async function allocatePort(range?: PortRange): Promise<number> {
  if (!range) return osPort();
  const size = range.to - range.from + 1;
  for (let i = 0; i < size; i++) {
    const port = range.from + ((cursor + i) % size);
    if (await isPortFree(port)) {
      cursor = (port - range.from + 1) % size;
      return port;
    }
  }
  throw new Error(`no free port in the instance port range ${range.from}-${range.to}: all ${size} are in use`);
}

let cursor = 0;

function osPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not read the allocated port'))));
    });
  });
}

/** Whether `port` can be bound on 127.0.0.1 right now. */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
