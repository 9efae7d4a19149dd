/** `spec.traffic.nginx` (src/spec/data-plane.ts folds it into `dataPlaneSettings`), and the names nginx can route on. */
import { boolean, integer, object, refine, string, withDefault, type Decoder } from '../../spec/schema.js';
import { DEFAULT_NGINX_SETTINGS as D, type NginxSettings } from './settings.js';
import { isNginxListen, NGINX_COOKIE_NAME, NGINX_HEADER_NAME, NGINX_PATH } from './strict.js';

const PATH = (what: string) => string({ fix: `write an absolute path to ${what}`, pattern: /^\//, patternProblem: 'must be an absolute path' });
const COMMAND = (example: string) => string({ fix: `write a shell command, e.g. ${example}` });

export const nginxSettings: Decoder<NginxSettings> = object({
  manage: withDefault(boolean('write true (sluice runs nginx) or false (sluice reloads an nginx you run)'), D.manage),
  binary: withDefault(string({ fix: 'write the nginx executable, e.g. nginx or /usr/sbin/nginx' }), D.binary),
  configFile: withDefault(PATH('the file your nginx.conf includes in http {}'), D.configFile),
  test: withDefault(COMMAND(D.test), D.test),
  reload: withDefault(COMMAND(D.reload), D.reload),
  pidFile: withDefault(PATH("nginx's pid file"), D.pidFile),
  // Both are written into nginx's config bare: strict patterns, not just a leading /.
  accessLog: withDefault(
    string({
      fix: 'write an absolute path of letters, digits and ._/@+=,~- (no spaces, quotes, ;, {}, #, $)',
      pattern: NGINX_PATH,
      patternProblem: 'must be an absolute path nginx can take as is',
    }),
    D.accessLog,
  ),
  statusListen: withDefault(
    refine(string({ fix: 'write host:port, e.g. 127.0.0.1:9902' }), (v, fail) => {
      if (!isNginxListen(v))
        fail(`${JSON.stringify(v)} is not host:port (a host name or IPv4 address, or [IPv6], and a port 1..65535)`, 'write host:port, e.g. 127.0.0.1:9902');
    }),
    D.statusListen,
  ),
  keepaliveSeconds: withDefault(integer({ min: 0, max: 3600, fix: 'write whole seconds from 0 to 3600' }), D.keepaliveSeconds),
});

/** The names in `traffic` that nginx reads (routes' header and cookie names, sticky keys). */
interface TrafficNames {
  routes?: { match?: { header?: { name: string }; cookie?: { name: string } } }[];
  sticky?: { cookie?: { name?: string }; header?: string; hashCookie?: string };
}

/**
 * nginx reads a header as `$http_<name>` and puts names into its config: `[A-Za-z0-9-]` for
 * headers, `[A-Za-z0-9_-]` for cookies (strict.ts). Returns [field, problem, fix].
 */
export function nginxNameProblem(t: TrafficNames): [string, string, string] | undefined {
  const fix = (kind: string) => `with router: nginx a ${kind} name is letters, digits and -${kind === 'cookie' ? ' or _' : ''}`;
  for (const [i, r] of (t.routes ?? []).entries()) {
    const h = r.match?.header?.name;
    if (h !== undefined && !NGINX_HEADER_NAME.test(h))
      return ['routes', `routes[${i}].match.header.name ${JSON.stringify(h)} is not a header name nginx can route on`, fix('header')];
    const c = r.match?.cookie?.name;
    if (c !== undefined && !NGINX_COOKIE_NAME.test(c))
      return ['routes', `routes[${i}].match.cookie.name ${JSON.stringify(c)} is not a cookie name nginx can route on`, fix('cookie')];
  }
  const s = t.sticky;
  if (s?.header !== undefined && !NGINX_HEADER_NAME.test(s.header))
    return ['sticky', `sticky.header ${JSON.stringify(s.header)} is not a header name nginx can read`, fix('header')];
  for (const [key, c] of [
    ['hashCookie', s?.hashCookie],
    ['cookie.name', s?.cookie?.name],
  ] as const) {
    if (c !== undefined && !NGINX_COOKIE_NAME.test(c))
      return ['sticky', `sticky.${key} ${JSON.stringify(c)} is not a cookie name nginx can use`, fix('cookie')];
  }
  return undefined;
}
