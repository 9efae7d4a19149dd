/**
 * What may be written into an nginx configuration unquoted (issue 10 finding 5: an
 * `accessLog` or `statusListen` with `;` injected a whole server block, a header name
 * `x$host` became part of a variable name). Every string the renderer writes bare is
 * checked against one of these patterns; quoted strings go through quote.ts. Used by the
 * spec decoder (spec.ts), by NginxDataPlane before it renders, and by render.ts itself.
 */
import { tryParseHostPort } from '../../util/host-port.js';
import type { ListenerRoutes, RequestMatch } from '../../core/route-table.js';

/** A header name nginx exposes as `$http_<name>` (nginx ignores headers with `_` by default). */
export const NGINX_HEADER_NAME = /^[A-Za-z0-9-]+$/;
/** A cookie name sluice puts in a regex and a Set-Cookie value. */
export const NGINX_COOKIE_NAME = /^[A-Za-z0-9_-]+$/;
/** An absolute file path without anything nginx's parser or its variables would read. */
export const NGINX_PATH = /^\/[A-Za-z0-9._/@+=,~-]*$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])$/;
const BARE_HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/;

/** host:port as nginx's `listen` takes it: a name or IPv4, or [IPv6]; port 1..65535. */
export function isNginxListen(s: unknown): boolean {
  if (typeof s !== 'string') return false;
  const hp = tryParseHostPort(s);
  return hp !== undefined && HOST.test(s.slice(0, s.lastIndexOf(':')));
}

/**
 * The first string of a listener that nginx cannot be given, as "where: what, fix", or
 * undefined. Structure, numbers, regexes and CIDRs are validate.ts's (validateRouteTable).
 */
export function nginxListenerProblem(l: ListenerRoutes, at: string): string | undefined {
  const name = (where: string, v: unknown, kind: 'header' | 'cookie'): string | undefined => {
    const pattern = kind === 'header' ? NGINX_HEADER_NAME : NGINX_COOKIE_NAME;
    if (typeof v === 'string' && pattern.test(v)) return undefined;
    return `${where}: ${JSON.stringify(v)} is not a ${kind} name nginx can route on; use letters, digits and -${kind === 'cookie' ? ' or _' : ''}`;
  };
  const match = (m: RequestMatch | undefined, where: string): string | undefined =>
    (m?.header && name(`${where}.header.name`, m.header.name, 'header')) || (m?.cookie && name(`${where}.cookie.name`, m.cookie.name, 'cookie')) || undefined;
  if (!isNginxListen(l.listen))
    return `${at}.listen: ${JSON.stringify(l.listen)} is not host:port nginx can listen on; write e.g. 127.0.0.1:8080 or [::1]:8080`;
  for (const [bi, b] of l.backends.entries()) {
    for (const [ei, e] of b.endpoints.entries()) {
      if (!BARE_HOST.test(e.host))
        return `${at}.backends[${bi}].endpoints[${ei}].host: ${JSON.stringify(e.host)} is not a host name or IP address; write e.g. 127.0.0.1`;
    }
  }
  const s = l.sticky;
  return (
    l.rules.map((r, ri) => match(r, `${at}.rules[${ri}]`)).find((p) => p !== undefined) ??
    (l.mirrors ?? []).map((m, mi) => match(m.match, `${at}.mirrors[${mi}].match`)).find((p) => p !== undefined) ??
    ((s?.header !== undefined && name(`${at}.sticky.header`, s.header, 'header')) ||
      (s?.hashCookie !== undefined && name(`${at}.sticky.hashCookie`, s.hashCookie, 'cookie')) ||
      (s?.cookie !== undefined && name(`${at}.sticky.cookie.name`, s.cookie.name, 'cookie')) ||
      (l.variantHeader !== undefined && name(`${at}.variantHeader`, l.variantHeader, 'header')) ||
      undefined)
  );
}
