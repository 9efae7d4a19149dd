/**
 * The one host:port parser: listen flags (--api, --admin), route-table listeners, Host
 * headers and origins. IPv6 only in brackets (`[::1]:7070`: an unbracketed `::1:7070` is
 * ambiguous), ports 1..65535 (0 only where the caller asks the OS to pick one), the host
 * returned without brackets, so that it can go straight to listen() or connect().
 */
import { isIP } from 'node:net';
import { UserError } from './errors.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface HostPortOptions {
  /** A bare port ("7070") means this host. Without it, a bare port is refused. */
  defaultHost?: string;
  /** A bare host ("localhost", "[::1]") means this port: a Host header or an origin's authority. */
  defaultPort?: number;
  /** Port 0 (the OS picks a free one) is accepted: a listen address of a server started for a test. */
  allowPortZero?: boolean;
  /** What the text is, to start the error message: "listen address", "API address". */
  what?: string;
}

/** What a malformed host:port is; its message is one line and quotes the text (at most 100 characters). */
export class HostPortError extends UserError {
  constructor(text: string, why: string, what = 'address') {
    super(`${what} ${JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text)} is not host:port: ${why}`, 'invalid-address');
    this.name = 'HostPortError';
  }
}

/** A name or an IPv4 address: what may stand unbracketed before the colon. */
const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/** `host:port` → {host, port}; throws HostPortError. */
export function parseHostPort(text: string, options: HostPortOptions = {}): HostPort {
  if (typeof text !== 'string') throw new HostPortError(String(text), 'not a string', options.what);
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw new HostPortError(text, 'an IPv6 address opened with "[" needs its "]"', options.what);
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) throw new HostPortError(text, `unexpected "${rest.slice(0, 20)}" after "]"; write [IPv6]:PORT`, options.what);
    portText = rest === '' ? undefined : rest.slice(1);
    if (isIP(host) !== 6) throw new HostPortError(text, `"${host.slice(0, 60)}" in brackets is not an IPv6 address`, options.what);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0 && options.defaultHost !== undefined && /^[0-9]+$/.test(text)) {
      return { host: options.defaultHost, port: port(text, text, options) };
    }
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
    if (host === '') throw new HostPortError(text, 'the host is missing; write HOST:PORT, e.g. 127.0.0.1:7070', options.what);
    if (host.includes(':')) throw new HostPortError(text, 'an IPv6 address must be in brackets, e.g. [::1]:7070', options.what);
    if (!NAME.test(host)) throw new HostPortError(text, `"${host.slice(0, 60)}" is not a host name or IPv4 address`, options.what);
  }
  if (portText === undefined) {
    if (options.defaultPort === undefined) throw new HostPortError(text, 'the port is missing; write HOST:PORT, e.g. 127.0.0.1:7070', options.what);
    return { host, port: options.defaultPort };
  }
  return { host, port: port(portText, text, options) };
}

/** parseHostPort, or undefined for text that is not host:port. */
export function tryParseHostPort(text: string, options: HostPortOptions = {}): HostPort | undefined {
  try {
    return parseHostPort(text, options);
  } catch (e) {
    if (e instanceof HostPortError) return undefined;
    throw e;
  }
}

/** {host, port} → `host:port`, an IPv6 host in brackets; parseHostPort(formatHostPort(x)) is x. */
export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function port(portText: string, text: string, options: HostPortOptions): number {
  const lowest = options.allowPortZero === true ? 0 : 1;
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < lowest || Number(portText) > 65535) {
    throw new HostPortError(text, `the port must be a number from ${lowest} to 65535, got "${portText.slice(0, 20)}"`, options.what);
  }
  return Number(portText);
}

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
