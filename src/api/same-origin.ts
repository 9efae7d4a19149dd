/**
 * Who may talk to the control-plane API besides holding the token: a browser page must not.
 * DNS rebinding points an attacker's name at 127.0.0.1, so the `Host` header must name this
 * server (an IP literal or localhost, never another name); a page of another site sends an
 * `Origin` that is not ours; and a body that is not `application/json` is what a cross-site
 * form or `text/plain` fetch can send without a CORS preflight (which this server never grants).
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '::1']);

export type Refusal = { status: 403 | 415; message: string; code: string };

/** `host[:port]` of a Host header or an origin's authority, IPv6 brackets removed. */
function splitAuthority(authority: string): { host: string; port?: number } | undefined {
  const m = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(authority.trim().toLowerCase());
  if (!m) return undefined;
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), ...(m[2] !== undefined ? { port: Number(m[2]) } : {}) };
}

/**
 * The names this server answers to: loopback, the address it is bound to and, when bound
 * to every interface, any IP literal (a rebinding attack needs a DNS name).
 */
export function hostAllowed(authority: string | undefined, bound: { host: string; port: number }, defaultPort = 80): boolean {
  if (authority === undefined) return false;
  const a = splitAuthority(authority);
  if (!a || (a.port ?? defaultPort) !== bound.port) return false;
  if (LOOPBACK_NAMES.has(a.host) || a.host === bound.host.toLowerCase()) return true;
  const wildcard = bound.host === '0.0.0.0' || bound.host === '::';
  return wildcard && isIP(a.host) !== 0;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function hasBody(req: IncomingMessage): boolean {
  const length = headerValue(req, 'content-length');
  return (length !== undefined && Number(length) > 0) || req.headers['transfer-encoding'] !== undefined;
}

/** Why this request is refused before its token is even looked at, or undefined. */
export function refuseCrossSite(req: IncomingMessage, bound: { host: string; port: number }): Refusal | undefined {
  if (!hostAllowed(headerValue(req, 'host'), bound)) {
    return {
      status: 403,
      code: 'forbidden-host',
      message: `Host "${headerValue(req, 'host') ?? ''}" is not this API — call it as 127.0.0.1:${bound.port} or localhost:${bound.port}`,
    };
  }
  const origin = headerValue(req, 'origin');
  if (origin !== undefined) {
    let authority: string | undefined;
    try {
      const url = new URL(origin);
      authority = url.protocol === 'http:' ? url.host : undefined;
    } catch {
      authority = undefined;
    }
    if (authority === undefined || !hostAllowed(authority, bound)) {
      return { status: 403, code: 'forbidden-origin', message: `cross-origin request from "${origin}" refused — the API serves only its own origin` };
    }
  }
  return undefined;
}

/** Every body must be JSON: the one content type a cross-site page cannot send without a preflight. */
export function refuseNonJson(req: IncomingMessage): Refusal | undefined {
  if (!hasBody(req)) return undefined;
  const type = (headerValue(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json') return undefined;
  return {
    status: 415,
    code: 'unsupported-media-type',
    message: `request body of type "${type || 'none'}" refused — send "Content-Type: application/json"`,
  };
}
