/**
 * `spec.traffic.router` and `spec.traffic.nginx`. Both spellings work:
 *   traffic: {router: nginx, nginx: {manage: true}}
 *   traffic: {router: {nginx: {manage: true}}}      (the issue's `router.nginx.manage`)
 */
import { isMap, type Node } from 'yaml';
import { boolean, integer, map, object, oneKey, oneOf, refine, string, withDefault, type Ctx, type Decoder } from '../../spec/schema.js';
import { DEFAULT_NGINX_SETTINGS as D, type NginxSettings } from './settings.js';

const PATH = (what: string) => string({ fix: `write an absolute path to ${what}`, pattern: /^\//, patternProblem: 'must be an absolute path' });
const COMMAND = (example: string) => string({ fix: `write a shell command, e.g. ${example}` });

export const nginxSettings: Decoder<NginxSettings> = object({
  manage: withDefault(boolean('write true (sluice runs nginx) or false (sluice reloads an nginx you run)'), D.manage),
  binary: withDefault(string({ fix: 'write the nginx executable, e.g. nginx or /usr/sbin/nginx' }), D.binary),
  configFile: withDefault(PATH('the file your nginx.conf includes in http {}'), D.configFile),
  test: withDefault(COMMAND(D.test), D.test),
  reload: withDefault(COMMAND(D.reload), D.reload),
  pidFile: withDefault(PATH("nginx's pid file"), D.pidFile),
  accessLog: withDefault(PATH('the access log sluice reads'), D.accessLog),
  statusListen: withDefault(
    string({ fix: 'write host:port, e.g. 127.0.0.1:9902', pattern: /^[^\s:]+:\d{1,5}$|^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/, patternProblem: 'must be host:port' }),
    D.statusListen,
  ),
  keepaliveSeconds: withDefault(integer({ min: 0, max: 3600, fix: 'write whole seconds from 0 to 3600' }), D.keepaliveSeconds),
});

export type DataPlaneChoice = { router: 'builtin' } | { router: 'nginx'; nginx?: NginxSettings };

export const dataPlaneRouter: Decoder<DataPlaneChoice> = (node: Node, ctx: Ctx) =>
  isMap(node)
    ? map(oneKey({ nginx: nginxSettings }, 'data plane'), ({ value }) => ({ router: 'nginx' as const, nginx: value }))(node, ctx)
    : { router: oneOf(['builtin', 'nginx'] as const)(node, ctx) };

/** Folds `router` and `nginx` into `{router: 'nginx', nginx}` (nothing for builtin); nginx settings without `router: nginx` are an error. */
export function withDataPlane<T extends { router: DataPlaneChoice; nginx?: NginxSettings }>(
  d: Decoder<T>,
): Decoder<Omit<T, 'router' | 'nginx'> & { router?: 'nginx'; nginx?: NginxSettings }> {
  return map(
    refine(d, (v, fail) => {
      if (v.nginx !== undefined && v.router.router !== 'nginx') fail('sets nginx settings but the router is builtin', 'add router: nginx, or remove nginx', 'nginx');
      if (v.nginx !== undefined && v.router.router === 'nginx' && v.router.nginx !== undefined) fail('sets nginx settings twice (router.nginx and nginx)', 'keep one of them', 'nginx');
    }),
    ({ router, nginx, ...rest }) =>
      router.router === 'nginx' ? { ...rest, router: 'nginx' as const, nginx: router.nginx ?? nginx ?? { ...D } } : rest, // builtin: left out, as in specs written before the nginx data plane
  );
}
