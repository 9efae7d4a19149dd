/**
 * The tests' one Rollout manifest builder: typed options → YAML text. The defaults run the
 * demo app (examples/demo-app) under this node with a fast readiness probe and short
 * shutdown timings, as the end-to-end tests and benchmarks want; the engine sim's preset
 * (test/helpers/engine-sim.ts, SIM_APP) turns those off.
 */
import { DEMO_APP } from './templates.js';

/**
 * The data plane end-to-end tests run against: SLUICE_TEST_DATA_PLANE=nginx gives every
 * manifest that does not choose its own `traffic.router: nginx` (sluice-managed), so the
 * same scenarios test nginx.
 */
export const DATA_PLANE: 'builtin' | 'nginx' = process.env.SLUICE_TEST_DATA_PLANE === 'nginx' ? 'nginx' : 'builtin';

export interface ManifestOptions {
  /** metadata.name; 'web' unless given. */
  name?: string;
  /** template.version; also the VERSION env the demo app answers with. */
  version: string;
  /** YAML for spec.strategy, indented 4 spaces. */
  strategy: string;
  /** traffic.listen: a port on 127.0.0.1, or host:port. */
  listen: number | string;
  /** 3 unless given. */
  replicas?: number;
  /** progressDeadlineSeconds; 60 unless given. */
  deadline?: number;
  revisionHistoryLimit?: number;
  /** More template env (VERSION comes first and may be overridden). */
  env?: Record<string, string>;
  /** The template's command and args; the demo app under this node unless given. */
  command?: string;
  args?: readonly string[];
  /** The demo app's readiness probe and shutdown timings; true unless given. */
  probes?: boolean;
  /** DATA_PLANE unless given. */
  dataPlane?: 'builtin' | 'nginx';
  /** YAML appended at spec level (2-space indent): hooks, smokeTests, analysis… */
  extra?: string;
}

export function rolloutManifest(o: ManifestOptions): string {
  const env = { VERSION: o.version, ...(o.env ?? {}) };
  const listen = typeof o.listen === 'number' ? `127.0.0.1:${o.listen}` : o.listen;
  const strategy = o.strategy.endsWith('\n') ? o.strategy : `${o.strategy}\n`;
  const probes = `    probes:
      readiness:
        httpGet: {path: /healthz}
        periodSeconds: 0.2
        failureThreshold: 2
    shutdown:
      drainSeconds: 10
      terminationGracePeriodSeconds: 5
`;
  return `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: ${o.name ?? 'web'}
spec:
  replicas: ${o.replicas ?? 3}
${o.revisionHistoryLimit === undefined ? '' : `  revisionHistoryLimit: ${o.revisionHistoryLimit}\n`}  progressDeadlineSeconds: ${o.deadline ?? 60}
  template:
    version: ${o.version}
    command: ${JSON.stringify(o.command ?? process.execPath)}
    args: [${(o.args ?? [DEMO_APP]).map((a) => JSON.stringify(a)).join(', ')}]
    env:
${Object.entries(env)
  .map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`)
  .join('\n')}
${o.probes === false ? '' : probes}  traffic:
    listen: ${listen}${(o.dataPlane ?? DATA_PLANE) === 'nginx' ? '\n    router: nginx\n    nginx: {manage: true}' : ''}
  strategy:
${strategy}${o.extra ?? ''}`;
}
