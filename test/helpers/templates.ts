/**
 * The tests' one set of template fixtures: the demo app (examples/demo-app) as a Template
 * object, for tests that hand templates to the platform or to fakes directly. Manifests
 * (YAML) come from test/helpers/manifest.ts, which runs the same app.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Probe, Template } from '../../src/core/spec.js';

/** The repository root, from dist/test/helpers/ where this file runs compiled. */
export const REPO = fileURLToPath(new URL('../../..', import.meta.url));
export const DEMO_APP = join(REPO, 'examples', 'demo-app', 'server.js');

/** An HTTP readiness/liveness probe that answers fast (every 0.2 s); override any part. */
export function httpProbe(path = '/healthz', overrides: Partial<Probe> = {}): Probe {
  return {
    httpGet: { path, scheme: 'http', headers: {} },
    initialDelaySeconds: 0,
    periodSeconds: 0.2,
    timeoutSeconds: 1,
    successThreshold: 1,
    failureThreshold: 3,
    ...overrides,
  };
}

/** The demo app under this node with a fast readiness probe and short shutdown timings; override any part. */
export function demoTemplate(overrides: Partial<Template> = {}): Template {
  return {
    version: 'v1',
    command: process.execPath,
    args: [DEMO_APP],
    env: {},
    probes: { readiness: httpProbe() },
    shutdown: { drainSeconds: 2, preStopDelaySeconds: 0, terminationGracePeriodSeconds: 5 },
    ...overrides,
  };
}
