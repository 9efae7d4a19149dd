/**
 * `spec.traffic.router` and `spec.traffic.nginx`. Both spellings work:
 *   traffic: {router: nginx, nginx: {manage: true}}
 *   traffic: {router: {nginx: {manage: true}}}      (the issue's `router.nginx.manage`)
 */
import { boolean, integer, map, object, oneKey, oneOf, refine, scalarOrMap, string, withDefault, type Decoder } from '../../spec/schema.js';
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
    string({ fix: 'write an absolute path of letters, digits and ._/@+=,~- (no spaces, quotes, ;, {}, #, $)', pattern: NGINX_PATH, patternProblem: 'must be an absolute path nginx can take as is' }),
    D.accessLog,
  ),
  statusListen: withDefault(
    refine(string({ fix: 'write host:port, e.g. 127.0.0.1:9902' }), (v, fail) => {
      if (!isNginxListen(v)) fail(`${JSON.stringify(v)} is not host:port (a host name or IPv4 address, or [IPv6], and a port 1..65535)`, 'write host:port, e.g. 127.0.0.1:9902');
    }),
    D.statusListen,
  ),
  keepaliveSeconds: withDefault(integer({ min: 0, max: 3600, fix: 'write whole seconds from 0 to 3600' }), D.keepaliveSeconds),
});

export type DataPlaneChoice = { router: 'builtin' } | { router: 'nginx'; nginx?: NginxSettings };

export const dataPlaneRouter: Decoder<DataPlaneChoice> = scalarOrMap(
  map(oneOf(['builtin', 'nginx'] as const), (router) => ({ router })),
  map(oneKey({ nginx: nginxSettings }, 'data plane'), ({ value }) => ({ router: 'nginx' as const, nginx: value })),
);

/** Folds `router` and `nginx` into `{router: 'nginx', nginx}` (nothing for builtin); nginx settings without `router: nginx` are an error. */
export function withDataPlane<T extends { router: DataPlaneChoice; nginx?: NginxSettings }>(
  d: Decoder<T>,
): Decoder<Omit<T, 'router' | 'nginx'> & { router?: 'nginx'; nginx?: NginxSettings }> {
  return map(
    refine(d, (v, fail) => {
      if (v.nginx !== undefined && v.router.router !== 'nginx') fail('sets nginx settings but the router is builtin', 'add router: nginx, or remove nginx', 'nginx');
      if (v.nginx !== undefined && v.router.router === 'nginx' && v.router.nginx !== undefined) fail('sets nginx settings twice (router.nginx and nginx)', 'keep one of them', 'nginx');
      if (v.router.router === 'nginx') {
        const bad = nginxNameProblem(v as TrafficNames);
        if (bad !== undefined) fail(bad[1], bad[2], bad[0]);
      }
    }),
    ({ router, nginx, ...rest }) =>
      router.router === 'nginx' ? { ...rest, router: 'nginx' as const, nginx: router.nginx ?? nginx ?? { ...D } } : rest, // builtin: left out, as in specs written before the nginx data plane
  );
}

/** The names in `traffic` that nginx reads (routes' header and cookie names, sticky keys). */
interface TrafficNames {
  routes?: { match?: { header?: { name: string }; cookie?: { name: string } } }[];
  sticky?: { cookie?: { name?: string }; header?: string; hashCookie?: string };
}

/**
 * nginx reads a header as `$http_<name>` and puts names into its config: `[A-Za-z0-9-]` for
 * headers, `[A-Za-z0-9_-]` for cookies (strict.ts). Returns [field, problem, fix].
 */
function nginxNameProblem(t: TrafficNames): [string, string, string] | undefined {
  const fix = (kind: string) => `with router: nginx a ${kind} name is letters, digits and -${kind === 'cookie' ? ' or _' : ''}`;
  for (const [i, r] of (t.routes ?? []).entries()) {
    const h = r.match?.header?.name;
    if (h !== undefined && !NGINX_HEADER_NAME.test(h)) return ['routes', `routes[${i}].match.header.name ${JSON.stringify(h)} is not a header name nginx can route on`, fix('header')];
    const c = r.match?.cookie?.name;
    if (c !== undefined && !NGINX_COOKIE_NAME.test(c)) return ['routes', `routes[${i}].match.cookie.name ${JSON.stringify(c)} is not a cookie name nginx can route on`, fix('cookie')];
  }
  const s = t.sticky;
  if (s?.header !== undefined && !NGINX_HEADER_NAME.test(s.header)) return ['sticky', `sticky.header ${JSON.stringify(s.header)} is not a header name nginx can read`, fix('header')];
  for (const [key, c] of [['hashCookie', s?.hashCookie], ['cookie.name', s?.cookie?.name]] as const) {
    if (c !== undefined && !NGINX_COOKIE_NAME.test(c)) return ['sticky', `sticky.${key} ${JSON.stringify(c)} is not a cookie name nginx can use`, fix('cookie')];
  }
  return undefined;
}
