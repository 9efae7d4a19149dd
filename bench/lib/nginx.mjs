// nginx (Debian's package) as the reference reverse proxy: one worker process like the
// builtin router, keep-alive pools to the same app instances, the same X-Forwarded-*
// headers, and the same routing per listener (one revision, a 90/10 split, three header
// rules ahead of the split).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * rev1, rev2: app ports per revision. listen: {one, split, rules} ports. rules: the header
 * rules of the router's table, as {header, exact|prefix|regex}.
 */
export function nginxConfig(dir, { rev1, rev2, listen, rules }) {
  const tmp = join(dir, 'tmp');
  const servers = (ports, weight) => ports.map((p) => `    server 127.0.0.1:${p}${weight ? ` weight=${weight}` : ''};`).join('\n');
  // Keep-alive pools like the router's upstream pools: idle upstream sockets closed after 4 s,
  // before the Node app's own 5 s keepAliveTimeout, and no cap on requests per connection.
  const pool = '    keepalive 64;\n    keepalive_timeout 4s;\n    keepalive_requests 1000000;';
  // Rules in order, the first that matches wins, else the split: chained maps. The router
  // anchors a rule's regex to the whole value, so the map does too.
  const ruleMaps = rules
    .map((r, i) => {
      const variable = `$http_${r.header.replace(/-/g, '_')}`;
      const next = i + 1 < rules.length ? `$rule_${i + 1}` : 'split';
      const key = r.exact !== undefined ? `"${r.exact}"` : r.prefix !== undefined ? `"~^${r.prefix}"` : `"~^(?:${r.regex})$"`;
      return `  map ${variable} $rule_${i} {\n    ${key} rev2;\n    default ${next};\n  }`;
    })
    .join('\n');
  const server = (port, pass) => `  server {\n    listen 127.0.0.1:${port};\n    location / {\n      proxy_pass http://${pass};\n    }\n  }`;
  const text = `# Written by bench/router.mjs; nginx -p ${dir} -c ${join(dir, 'nginx.conf')} -g 'daemon off;'
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events {
  worker_connections 4096;
}
http {
  access_log off;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  tcp_nodelay on;
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host $http_host;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  proxy_set_header X-Forwarded-Proto http;
  proxy_set_header X-Forwarded-Host $http_host;
  upstream rev1 {
${servers(rev1)}
${pool}
  }
  upstream rev2 {
${servers(rev2)}
${pool}
  }
  # 90/10 between revisions with smooth weighted round-robin, as the router splits.
  upstream split {
${servers(rev1, 9)}
${servers(rev2, 1)}
${pool}
  }
${ruleMaps}
${server(listen.one, 'rev1')}
${server(listen.split, 'split')}
${server(listen.rules, '$rule_0')}
}
`;
  mkdirSync(tmp, { recursive: true });
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, text);
  return { file, text, args: ['-p', dir, '-c', file, '-g', 'daemon off;'] };
}
