import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { HostPortError, parseHostPort, tryParseHostPort, type HostPort } from '../util/host-port.js';
import type { RolloutSpec } from '../core/spec.js';

/** How long apply waits for a listen host name to resolve. */
const LOOKUP_TIMEOUT_MS = 3000;

/** Every address a rollout listens on (main, blue-green preview, canary). Tolerates a malformed stored spec. */
export function listenAddresses(spec: RolloutSpec): string[] {
  const st = spec?.strategy;
  const out: (string | undefined)[] = [spec?.traffic?.listen];
  if (st?.type === 'blueGreen') out.push(st.previewListen);
  if (st?.type === 'canary') out.push(st.canaryListen);
  return out.filter((a): a is string => typeof a === 'string');
}

/** The socket an address names: localhost is 127.0.0.1 (what listen() binds for it). */
function socketOf(address: string): HostPort | undefined {
  const a = tryParseHostPort(address);
  if (a === undefined) return undefined;
  const host = a.host.toLowerCase();
  return { host: host === 'localhost' ? '127.0.0.1' : host, port: a.port };
}

const isWildcard = (host: string) => host === '0.0.0.0' || host === '::';

/**
 * Whether two listen addresses need the same socket: the same host and port, or a
 * wildcard and anything on the same port (`0.0.0.0:P` holds `127.0.0.1:P` too; `[::]:P` is
 * dual-stack). The same rule as src/spec/load.ts uses within one file (owned by the spec
 * code; copied here so apply can check across rollouts).
 */
export function sameSocket(a: string, b: string): boolean {
  const x = socketOf(a);
  const y = socketOf(b);
  // Not host:port (a malformed stored spec): only the same text can clash.
  if (x === undefined || y === undefined) return a === b;
  return x.port === y.port && (x.host === y.host || isWildcard(x.host) || isWildcard(y.host));
}

/**
 * Why this machine cannot listen on `address`, without opening a socket: the host must be
 * a wildcard, or resolve (as the router's listen() resolves it) to an address of one of
 * this machine's interfaces. undefined when it can.
 */
export async function unbindableReason(address: string): Promise<string | undefined> {
  let bare: string;
  try {
    bare = parseHostPort(address).host;
  } catch (e) {
    if (e instanceof HostPortError) return e.message;
    throw e;
  }
  if (isWildcard(bare)) return undefined;
  if (/^[\d.]+$/.test(bare) && isIP(bare) === 0) return `${bare} is not a valid IPv4 address`;
  let ip = bare;
  if (isIP(bare) === 0) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: `no answer within ${LOOKUP_TIMEOUT_MS / 1000}s` })), LOOKUP_TIMEOUT_MS);
      timer.unref();
    });
    try {
      ip = (await Promise.race([lookup(bare), timeout])).address;
    } catch (err) {
      return `host ${bare} does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    } finally {
      clearTimeout(timer);
    }
  }
  if (isLocal(ip)) return undefined;
  return `${ip === bare ? bare : `${bare} (${ip})`} is not an address of this machine`;
}

function isLocal(ip: string): boolean {
  // The whole of 127.0.0.0/8 is loopback on Linux, though only 127.0.0.1 shows as an interface address.
  if (isIP(ip) === 4 && ip.startsWith('127.')) return true;
  const normal = ip.toLowerCase();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.address.toLowerCase() === normal) return true;
  }
  return false;
}
