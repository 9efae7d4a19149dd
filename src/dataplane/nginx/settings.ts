/**
 * How sluice drives nginx (`spec.traffic.nginx`). One nginx serves every rollout with
 * `traffic.router: nginx`, so these are process-wide: when rollouts disagree, the one
 * whose main listener sorts first wins (and the control plane logs the disagreement).
 */
export interface NginxSettings {
  /**
   * true: sluice starts nginx (non-root, everything under <state-dir>/nginx), reloads it
   * and stops it on `sluice down`. false: sluice only writes `configFile` (an `http {}`
   * level include) and runs `test` and `reload` against an nginx someone else runs.
   */
  manage: boolean;
  /** The nginx executable (managed mode). */
  binary: string;
  /** Unmanaged: the file sluice owns, included in the `http {}` block of nginx.conf. */
  configFile: string;
  /** Unmanaged: validates the whole configuration with the new file in place. */
  test: string;
  /** Unmanaged: makes the running nginx load it. */
  reload: string;
  /** Unmanaged: the master's pid file (to see old workers finish after a reload). */
  pidFile: string;
  /** Unmanaged: the JSON access log sluice configures and reads for analysis. */
  accessLog: string;
  /** Unmanaged: host:port of the status server sluice adds (the config generation). Managed: chosen freely. */
  statusListen: string;
  /**
   * Client keep-alive (seconds). 0 (the default) answers `Connection: close`: a reload
   * makes old workers close idle keep-alive connections, and a client that reuses one
   * in that instant sees a reset (browsers retry, many clients do not).
   */
  keepaliveSeconds: number;
}

export const DEFAULT_NGINX_SETTINGS: NginxSettings = {
  manage: true,
  binary: 'nginx',
  configFile: '/etc/nginx/conf.d/sluice.conf',
  test: 'nginx -t',
  reload: 'nginx -s reload',
  pidFile: '/run/nginx.pid',
  accessLog: '/var/log/nginx/sluice-access.log',
  statusListen: '127.0.0.1:9902',
  keepaliveSeconds: 0,
};
