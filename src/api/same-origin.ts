/**
 * Who may talk to the control-plane API besides holding the token: a browser page of another
 * site must not. DNS rebinding points an attacker's name at 127.0.0.1, so the `Host` header
 * must name this server (an IP literal or localhost, never another name); the checks
 * themselves (Host, Origin, JSON-only bodies) are the shared layer's (src/http/server.ts).
 */
import { hostAllowed as layerHostAllowed, type HostPolicy } from '../http/server.js';

/**
 * The names this server answers to: loopback, the address it is bound to and, when bound
 * to every interface, any IP literal (a rebinding attack needs a DNS name).
 */
export function apiHostPolicy(bound: { host: string; port: number }): HostPolicy {
  return { port: bound.port, names: [bound.host], anyIpLiteral: bound.host === '0.0.0.0' || bound.host === '::' };
}

/** Whether a Host header or an origin's authority names this API. */
export function hostAllowed(authority: string | undefined, bound: { host: string; port: number }, defaultPort = 80): boolean {
  return layerHostAllowed(authority, apiHostPolicy(bound), defaultPort);
}
