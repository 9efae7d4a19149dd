/**
 * RouteTable listeners → one nginx configuration file at `http {}` level. Per listener i
 * (prefix `sl<i>`): one upstream per revision with endpoints, `map`s that evaluate each
 * match rule, `split_clients` for the weighted split (and each rule's split), and a server
 * whose `$sl_t` names the chosen upstream (`sl<i>_r<rev>`) or the maintenance answer
 * (`sl<i>_m<rev>` / `sl<i>_m`). The JSON access log records rollout, role, revision,
 * status and timings per request for the analysis (see access-log.ts).
 */
import { DEFAULT_MIRROR_METHODS, MIRROR_HEADER } from '../../router/mirror.js';
import { MAX_REGEX_VALUE } from '../../util/regex.js';
import type { Backend, ListenerRoutes, MatchRule, RequestMatch, WeightedTarget } from '../../core/route-table.js';
import { UserError } from '../../util/errors.js';
import { comment, escapeRegex, headerVariable, literal, ms, q } from './quote.js';
import { isNginxListen, NGINX_PATH, nginxListenerProblem } from './strict.js';

export interface RenderOptions {
  generation: number;
  /** host:port of the status server (generation for apply; stub_status). */
  statusListen: string;
  accessLog: string;
  keepaliveSeconds: number;
}

export const GENERATION_PATH = '/sluice/generation';

/** Fields of one access-log line (see LOG_FORMAT). */
export const LOG_FORMAT =
  '{"t":$msec,"s":$status,"rt":$request_time,"ut":"$upstream_response_time","ua":"$upstream_addr",' +
  '"ro":"$sl_rollout","rv":"$sl_rev","role":"$sl_role","l":"$sl_listen","m":"$sl_mirrored"}';

/**
 * Throws a UserError (400) naming the field when a string cannot be written safely: bare
 * strings must match strict.ts's patterns, the others are quoted (quote.ts).
 */
export function renderRoutes(listeners: ListenerRoutes[], o: RenderOptions): string {
  const refuse = (what: string): never => {
    throw new UserError(`nginx config: ${what}`, 'invalid', 400);
  };
  if (!isNginxListen(o.statusListen)) refuse(`statusListen ${JSON.stringify(o.statusListen)} is not host:port; write e.g. 127.0.0.1:9902`);
  if (!NGINX_PATH.test(o.accessLog)) {
    refuse(
      `accessLog ${JSON.stringify(o.accessLog)} must be an absolute path of letters, digits and ._/@+=,~- (for a managed nginx: a state directory without spaces or quotes)`,
    );
  }
  listeners.forEach((l, i) => {
    const problem = nginxListenerProblem(l, `listeners[${i}]`);
    if (problem !== undefined) refuse(problem);
  });
  const out: string[] = [
    `# Written by sluice: route table generation ${o.generation}. Do not edit; the next change overwrites it.`,
    `log_format sluice_json escape=json '${LOG_FORMAT}';`,
    'geo $sl_dollar { default "$"; }',
    '# The revision a request went to, from the chosen upstream (or maintenance) name.',
    'map $sl_t $sl_rev { "~_[rm](?<sl_r>\\d+)$" $sl_r; default ""; }',
    'map $http_upgrade $sl_connection { "" ""; default upgrade; }',
    `keepalive_timeout ${Math.max(0, Math.round(o.keepaliveSeconds))}s;`,
    'keepalive_requests 1000000;',
    'client_max_body_size 0;',
    'server_tokens off;',
    '',
    'server {',
    `  listen ${o.statusListen};`,
    '  access_log off;',
    `  location = ${GENERATION_PATH} { default_type text/plain; return 200 "${o.generation}"; }`,
    '  location = /sluice/stub_status { stub_status; }',
    '  location / { return 404; }',
    '}',
  ];
  listeners.forEach((l, i) => out.push('', ...renderListener(l, `sl${i}`, o)));
  return out.join('\n') + '\n';
}

function renderListener(l: ListenerRoutes, p: string, o: RenderOptions): string[] {
  const out: string[] = [`# ${l.listen}: rollout ${comment(l.rollout)}, ${l.role}`];
  const withEndpoints = new Map<number, Backend>();
  for (const b of l.backends) if (b.endpoints.length > 0) withEndpoints.set(b.revision, b);
  const target = (revision: number) => (withEndpoints.has(revision) ? `${p}_r${revision}` : `${p}_m${revision}`);

  for (const b of withEndpoints.values()) out.push(...upstream(l, `${p}_r${b.revision}`, b));

  // The split key: random per request, or the stickiness key when there is one.
  let key = '${request_id}';
  let setCookie: string | undefined;
  const s = l.sticky;
  if (s?.cookie || s?.hashCookie) {
    const name = s.cookie?.name ?? s.hashCookie!;
    out.push(`map $http_cookie $${p}_sk { ${q(`~(?:^|;\\s*)${escapeRegex(name)}=(?<${p}_skv>[^;]*)`)} $${p}_skv; default ""; }`);
    out.push(`map $${p}_sk $${p}_key { "" $request_id; default $${p}_sk; }`);
    key = `\${${p}_key}`;
    if (s.cookie) {
      const cookie = `${name}=$request_id; Path=/; Max-Age=${Math.round(s.cookie.maxAgeSeconds ?? 86400)}; HttpOnly`;
      out.push(`map $${p}_sk $${p}_setck { "" ${q(cookie)}; default ""; }`);
      setCookie = `${p}_setck`;
    }
  } else if (s?.header) {
    out.push(`map ${headerVariable(s.header)} $${p}_key { "" $request_id; default ${headerVariable(s.header)}; }`);
    key = `\${${p}_key}`;
  }
  const split = (name: string, targets: WeightedTarget[]): string => {
    const live = targets.filter((t) => t.weight > 0).sort((a, b) => b.revision - a.revision);
    if (live.length === 0) return `${p}_m`;
    if (live.length === 1) return target(live[0].revision);
    // Newest revision first: raising its weight only moves (sticky) users onto it.
    const lines = live.map((t, k) => `  ${k === live.length - 1 ? '*' : `${Math.round(t.weight * 100) / 100}%`} ${target(t.revision)};`);
    out.push(`split_clients "${key}" $${name} {`, ...lines, '}');
    return `$${name}`;
  };

  const stopped = l.hold?.mode === 'stopped';
  const ruleVars: string[] = [];
  const ruleTargets: string[] = [];
  l.rules.forEach((r, j) => {
    ruleVars.push(ruleMatch(r, `${p}_${j}`, out));
    ruleTargets.push(r.split ? split(`${p}_${j}_split`, r.split) : target(r.revision!));
  });
  const fallback = split(`${p}_split`, l.split);
  out.push(`map "x${ruleVars.join('')}" $${p}_t {`);
  ruleTargets.forEach((t, j) => out.push(`  "~^x.{${j}}1" ${t};`));
  out.push(`  default ${fallback};`, '}');

  const variants = l.backends.filter((b) => b.variant !== undefined);
  if (l.variantHeader && variants.length > 0) {
    out.push(`map $sl_t $${p}_variant {`, ...variants.map((b) => `  ${q(`${p}_r${b.revision}`)} ${literal(b.variant!)};`), '  default "";', '}');
  }

  const m = l.maintenance;
  const t = l.resilience?.timeouts;
  const buffer = l.resilience?.bufferRequests;
  const mirrors = renderMirrors(l, p, withEndpoints, out);
  const proxy = [
    '    proxy_pass http://$sl_t;',
    '    proxy_http_version 1.1;',
    '    proxy_set_header Host $http_host;',
    '    proxy_set_header Upgrade $http_upgrade;',
    '    proxy_set_header Connection $sl_connection;',
    '    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    '    proxy_set_header X-Forwarded-Proto $scheme;',
    '    proxy_set_header X-Forwarded-Host $http_host;',
    '    proxy_buffering off;',
    `    proxy_request_buffering ${buffer ? 'on' : 'off'};`,
    ...(buffer ? [`    client_max_body_size ${buffer.maxBytes};`] : []),
    // A failed connect (or a kept-alive connection the app had closed) is tried on the
    // next endpoint; nginx never retries a non-idempotent request once it was sent.
    '    proxy_next_upstream error timeout;',
    ...(t?.connectMs !== undefined ? [`    proxy_connect_timeout ${ms(t.connectMs)};`] : []),
    ...(t?.responseMs !== undefined ? [`    proxy_read_timeout ${ms(t.responseMs)};`] : []),
    ...(setCookie ? [`    add_header Set-Cookie $${setCookie};`] : []),
    ...(l.variantHeader && variants.length > 0 ? [`    add_header ${l.variantHeader} $${p}_variant always;`] : []),
  ];
  out.push(
    'server {',
    `  listen ${l.listen};`,
    // A header line may be as long as the builtin router (Node) accepts, 16 KiB, rather
    // than nginx's 8 KiB, so both answer the same requests.
    '  large_client_header_buffers 4 16k;',
    `  access_log ${q(o.accessLog)} sluice_json;`,
    `  set $sl_rollout ${literal(l.rollout)};`,
    `  set $sl_role ${l.role};`,
    `  set $sl_listen ${q(l.listen)};`,
    `  set $sl_t ${stopped ? `${p}_m` : `$${p}_t`};`,
    // Mirror subrequests run this server's `set`s again; maps keep the client request's values.
    `  set $sl_mirrored ${mirrors.length > 0 ? `$${p}_mir` : '""'};`,
    '  error_page 418 = @maintenance;',
    '  location / {',
    '    if ($sl_t ~ "_m\\d*$") { return 418; }',
    // Only a request chosen for a copy goes through @mirrored: the others never wait for
    // a mirror subrequest nor have their body read ahead.
    ...(mirrors.length > 0 ? [`    if ($${p}_mir) { return 419; }`] : []),
    ...proxy,
    '  }',
    ...(mirrors.length > 0
      ? ['  error_page 419 = @mirrored;', '  location @mirrored {', ...mirrors.map((r) => r.directive), ...proxy, '  }', ...mirrors.flatMap((r) => r.location)]
      : []),
    '  location @maintenance {',
    ...(m
      ? ['    default_type text/plain;', `    add_header Retry-After ${m.retryAfterSeconds} always;`, `    return ${m.status} ${literal(m.body)};`]
      : ['    return 503;']),
    '  }',
    '}',
  );
  return out;
}

/** Timeouts of a copy: a slow or dead shadow is cut off quickly (see renderMirrors). */
export const MIRROR_CONNECT_TIMEOUT = '1s';
export const MIRROR_TIMEOUT = '2s';
/** The internal location of mirror k of a server. */
export const mirrorPath = (k: number) => `/.sluice-mirror/${k}`;

/**
 * ListenerRoutes.mirrors → nginx's `mirror` (ngx_http_mirror_module). Per mirror k, `$<p>_x<k>`
 * is 1 when the request is chosen: its match (methods default GET, HEAD, OPTIONS), a
 * `split_clients` share of `percent` (keyed on `$request_id` and the mirror's name, so it is
 * independent of the weighted split), a body of at most `maxBodyBytes` by Content-Length
 * (chunked bodies are not copied), and not already routed to the shadow revision.
 * `$<p>_mir` is 1 when any mirror chose the request; only those requests go through
 * `@mirrored`, whose `mirror` subrequests go to internal locations that answer 204 for a
 * mirror that did not choose it, else proxy the copy to the shadow's upstream with
 * `x-sluice-mirror: 1`. Variables are evaluated in the client request and shared with its
 * subrequests. Subrequests are not logged, so copies never count as client traffic.
 * Returns the `mirror` directives and the internal locations for the server.
 */
function renderMirrors(l: ListenerRoutes, p: string, withEndpoints: Map<number, Backend>, out: string[]): { directive: string; location: string[] }[] {
  const rendered: { directive: string; location: string[] }[] = [];
  const chosen: string[] = [];
  const readBody = (l.mirrors ?? []).some((r) => r.maxBodyBytes > 0);
  (l.mirrors ?? []).forEach((r, k) => {
    if (r.percent <= 0 || !withEndpoints.has(r.revision)) return; // nothing to copy, or nowhere to send it
    const v = `${p}_x${k}`;
    const parts = [ruleMatch({ name: r.name, ...r.match, methods: r.match?.methods ?? DEFAULT_MIRROR_METHODS }, `${v}_r`, out)];
    if (r.percent < 100) {
      out.push(`split_clients "\${request_id}${r.name.replace(/[^\w.-]/g, '_')}" $${v}_pct {`, `  ${Math.round(r.percent * 100) / 100}% 1;`, '  * 0;', '}');
      parts.push(`\${${v}_pct}`);
    }
    // Bodies up to maxBodyBytes by Content-Length; chunked bodies (no length) never.
    const sizes = r.maxBodyBytes > 0 ? `|${atMost(Math.floor(r.maxBodyBytes))}` : '';
    out.push(`map "\${http_transfer_encoding}:\${content_length}" $${v}_b { ${q(`~^:(?:0*${sizes})?$`)} 1; default 0; }`);
    parts.push(`\${${v}_b}`);
    out.push(`map $sl_t $${v}_n { ${q(`${p}_r${r.revision}`)} 0; default 1; }`);
    parts.push(`\${${v}_n}`);
    out.push(`map "${parts.join('')}" $${v} { "${'1'.repeat(parts.length)}" 1; default 0; }`);
    chosen.push(`\${${v}}`);
    rendered.push({
      directive: `    mirror ${mirrorPath(k)};`,
      location: [
        `  location = ${mirrorPath(k)} {`,
        '    internal;',
        `    if ($${v} != 1) { return 204; }`,
        `    proxy_pass http://${p}_r${r.revision}$request_uri;`,
        '    proxy_http_version 1.1;',
        '    proxy_set_header Host $http_host;',
        '    proxy_set_header Connection "";',
        '    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
        '    proxy_set_header X-Forwarded-Proto $scheme;',
        '    proxy_set_header X-Forwarded-Host $http_host;',
        `    proxy_set_header ${MIRROR_HEADER} 1;`,
        ...(readBody ? [] : ['    proxy_pass_request_body off;', '    proxy_set_header Content-Length "";']),
        // A copy is sent once, and a slow shadow is cut off: the client request is not
        // finished (logged, its keep-alive connection free for the next one) before its copies.
        '    proxy_next_upstream off;',
        `    proxy_connect_timeout ${MIRROR_CONNECT_TIMEOUT};`,
        `    proxy_send_timeout ${MIRROR_TIMEOUT};`,
        `    proxy_read_timeout ${MIRROR_TIMEOUT};`,
        '  }',
      ],
    });
  });
  if (rendered.length > 0) {
    out.push(`map "${chosen.join('')}" $${p}_mir { "~1" 1; default 0; }`);
    rendered.unshift({ directive: `    mirror_request_body ${readBody ? 'on' : 'off'};`, location: [] });
  }
  return rendered;
}

/** A regex (no anchors) matching the decimal integers 0..n, without leading zeros. */
export function atMost(n: number): string {
  const d = String(n);
  const alts: string[] = [];
  if (d.length > 1) alts.push(`\\d{1,${d.length - 1}}`);
  for (let i = 0; i < d.length; i++) {
    const digit = Number(d[i]);
    if (digit === 0 || (i === 0 && digit === 1 && d.length > 1)) continue; // nothing below, or only a shorter number
    const rest = d.length - i - 1;
    alts.push(`${d.slice(0, i)}${digit === 1 ? '0' : `[0-${digit - 1}]`}${rest > 1 ? `\\d{${rest}}` : rest === 1 ? '\\d' : ''}`);
  }
  alts.push(d);
  return `0*(?:${alts.join('|')})`;
}

function upstream(l: ListenerRoutes, name: string, b: Backend): string[] {
  const outlier = l.resilience?.outlier;
  const limits = l.resilience?.limits;
  const params = [
    outlier ? `max_fails=${outlier.consecutiveFailures} fail_timeout=${ms(outlier.baseEjectionMs)}` : 'max_fails=0',
    ...(limits ? [`max_conns=${limits.maxConnections}`] : []),
  ].join(' ');
  return [
    `upstream ${name} {`,
    ...(l.balancer === 'least-requests' ? ['  least_conn;'] : []),
    ...b.endpoints.map((e) => `  server ${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port} ${params}; # ${comment(e.id)}`),
    // Idle connections close before the Node app's 5 s keepAliveTimeout would close them.
    '  keepalive 32;',
    '  keepalive_timeout 4s;',
    '  keepalive_requests 1000000;',
    '}',
  ];
}

/** Maps that make `$<v>` "1" when every condition of the rule holds; returns the variable to concatenate. */
function ruleMatch(r: MatchRule, v: string, out: string[]): string {
  const parts: string[] = [];
  const cond = (source: string, regex: string, name: string) => {
    out.push(`map ${source} $${name} { ${q(`~${regex}`)} 1; default 0; }`);
    parts.push(`\${${name}}`);
  };
  // A regex sees at most MAX_REGEX_VALUE characters, as in the builtin router: the bound is
  // checked first, so a long value never reaches the user's pattern (nor PCRE's match limit).
  const value = (m: { exact?: string; prefix?: string; regex?: string }) =>
    m.exact !== undefined
      ? `^${escapeRegex(m.exact)}$`
      : m.prefix !== undefined
        ? `^${escapeRegex(m.prefix)}`
        : `^(?=[\\s\\S]{0,${MAX_REGEX_VALUE}}\\z)(?:${m.regex})$`;
  const extract = (source: string, regex: string, name: string) => {
    out.push(`map ${source} $${name} { ${q(`~${regex.replace('(?<v>', `(?<${name}_v>`)}`)} $${name}_v; default ""; }`);
    return `$${name}`;
  };
  const m: RequestMatch = r;
  if (m.header) cond(headerVariable(m.header.name), value(m.header), `${v}_h`);
  if (m.cookie) cond(extract('$http_cookie', `(?:^|;\\s*)${escapeRegex(m.cookie.name)}=(?<v>[^;]*)`, `${v}_cv`), value(m.cookie), `${v}_c`);
  if (m.query) cond(extract('$args', `(?:^|&)${escapeRegex(m.query.name)}=(?<v>[^&]*)`, `${v}_qv`), value(m.query), `${v}_q`);
  if (m.pathPrefix) cond('$uri', `^${escapeRegex(m.pathPrefix.replace(/\/$/, ''))}(?:/|$)`, `${v}_p`);
  if (m.methods && m.methods.length > 0) cond('$request_method', `^(?:${m.methods.map(escapeRegex).join('|')})$`, `${v}_m`);
  if (m.sourceCidr) {
    out.push(`geo $${v}_s { default 0; ${m.sourceCidr} 1; }`);
    parts.push(`\${${v}_s}`);
  }
  if (parts.length === 0) return '1';
  if (parts.length === 1) return parts[0];
  out.push(`map "${parts.join('')}" $${v} { "${'1'.repeat(parts.length)}" 1; default 0; }`);
  return `\${${v}}`;
}
