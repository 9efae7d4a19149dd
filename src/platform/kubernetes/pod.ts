import { createHash } from 'node:crypto';
import type { Revision } from '../../core/rollout.js';
import type { Probe, RolloutSpec, Template } from '../../core/spec.js';

/**
 * The Kubernetes PodTemplateSpec of one revision of a rollout (issue 17): what the
 * Kubernetes platform will put in the ReplicaSet it creates for the revision. Pure: the
 * same spec and revision give the same object, key for key, and the same hash label.
 *
 * From `template.image` sluice builds the one container; from `template.podTemplate` it
 * takes the pod as written and adds to its first container (the app) what the template
 * says and the container does not. docs/spec.md, "Kubernetes", is the reference.
 */

export interface PodTemplateSpec {
  metadata: { labels: Record<string, string>; annotations: Record<string, string> };
  spec: { containers: Container[]; [field: string]: unknown };
}

type Container = { name: string; image: string; [field: string]: unknown };
type EnvVar = { name: string; value?: string; valueFrom?: unknown };

/** The port sluice serves and probes when the container lists none. */
export const DEFAULT_CONTAINER_PORT = 8080;
export const LABELS = {
  name: 'app.kubernetes.io/name',
  rollout: 'sluice.dev/rollout',
  revision: 'sluice.dev/revision',
  /** Like Argo Rollouts' rollouts-pod-template-hash: changes whenever the pod template does. */
  hash: 'sluice.dev/pod-template-hash',
} as const;
export const VERSION_ANNOTATION = 'sluice.dev/version';

/** Set by sluice for every instance, on every platform; a template's own value of one is overridden (as locally). */
const SLUICE_ENV = ['PORT', 'SLUICE_ROLLOUT', 'SLUICE_REVISION', 'SLUICE_INSTANCE', 'SLUICE_VERSION'];

export function podTemplateOf(spec: RolloutSpec, revision: Pick<Revision, 'number' | 'template'>): PodTemplateSpec {
  const t = revision.template;
  const k8s = spec.kubernetes ?? {};
  const written = t.podTemplate ? structuredClone(t.podTemplate) : undefined;
  const pod: Record<string, unknown> = written ? { ...written.spec } : {};
  const [first, ...sidecars] = written ? (written.spec.containers as Container[]) : [imageContainer(spec, t)];
  const app: Container = { ...first! };
  const ports = app.ports as Array<{ containerPort: number }> | undefined;
  const port = ports?.[0]?.containerPort ?? DEFAULT_CONTAINER_PORT;
  if (ports === undefined || ports.length === 0) app.ports = [{ name: 'http', containerPort: DEFAULT_CONTAINER_PORT }];

  // The loader refuses a name in both; env added after loading (an Environment's) wins, as sluice's own do.
  const added = templateEnv(spec, t, revision.number, port);
  const names = new Set(added.map((e) => e.name));
  app.env = [...((app.env as EnvVar[] | undefined) ?? []).filter((e) => !names.has(e.name)), ...added];
  const probes = { readinessProbe: t.probes.readiness, livenessProbe: t.probes.liveness, startupProbe: t.probes.startup };
  for (const [field, probe] of Object.entries(probes)) if (probe && app[field] === undefined) app[field] = probeOf(probe, port);
  const preStop = wholeSeconds(t.shutdown.preStopDelaySeconds, 0);
  if (preStop > 0 && app.lifecycle === undefined) app.lifecycle = { preStop: { sleep: { seconds: preStop } } };
  pod.containers = [app, ...sidecars];
  // Kubernetes counts the preStop hook inside the grace period; sluice's grace starts at SIGTERM.
  pod.terminationGracePeriodSeconds ??= wholeSeconds(t.shutdown.preStopDelaySeconds + t.shutdown.terminationGracePeriodSeconds, 0);
  if (k8s.serviceAccountName !== undefined) pod.serviceAccountName = k8s.serviceAccountName;
  if (k8s.nodeSelector !== undefined) pod.nodeSelector = { ...k8s.nodeSelector };

  const labels: Record<string, string> = {
    ...k8s.labels,
    ...written?.metadata?.labels,
    [LABELS.name]: spec.service ?? spec.name,
    [LABELS.rollout]: spec.name,
    [LABELS.revision]: String(revision.number),
  };
  const annotations = { ...k8s.annotations, ...written?.metadata?.annotations, [VERSION_ANNOTATION]: t.version };
  const out = { metadata: { labels, annotations }, spec: pod as PodTemplateSpec['spec'] };
  labels[LABELS.hash] = hashOf(out);
  return out;
}

/** The container of `template.image` and `template.container`. */
function imageContainer(spec: RolloutSpec, t: Template): Container {
  if (t.image === undefined)
    throw new Error(`rollout ${spec.name}: the template has neither image nor podTemplate (the loader refuses that on platform kubernetes)`);
  const c = t.container ?? {};
  return {
    name: spec.name,
    image: t.image,
    ...(c.imagePullPolicy ? { imagePullPolicy: c.imagePullPolicy } : {}),
    ...(c.command ? { command: [...c.command] } : {}),
    ...(c.args ? { args: [...c.args] } : {}),
    ...(c.ports ? { ports: c.ports.map((p) => ({ ...p })) } : {}),
    ...(c.envFrom ? { envFrom: structuredClone(c.envFrom) } : {}),
    ...(c.resources ? { resources: structuredClone(c.resources) } : {}),
  };
}

/**
 * env, secretEnv and sluice's variables. Values are literal, as for a local process:
 * every `$` is doubled, so Kubernetes' `$(VAR)` expansion leaves them as written.
 */
function templateEnv(spec: RolloutSpec, t: Template, revision: number, port: number): EnvVar[] {
  const env: EnvVar[] = Object.entries(t.env)
    .filter(([name]) => !SLUICE_ENV.includes(name))
    .map(([name, value]) => ({ name, value: value.replaceAll('$', '$$$$') }));
  for (const [name, ref] of Object.entries(t.secretEnv ?? {})) {
    if (SLUICE_ENV.includes(name)) continue;
    if (!ref.secretKeyRef) throw new Error(`rollout ${spec.name}: secretEnv ${name} has no secretKeyRef (the loader refuses that on platform kubernetes)`);
    env.push({ name, valueFrom: { secretKeyRef: { ...ref.secretKeyRef } } });
  }
  env.push(
    { name: 'PORT', value: String(port) },
    { name: 'SLUICE_ROLLOUT', value: spec.name },
    { name: 'SLUICE_REVISION', value: String(revision) },
    { name: 'SLUICE_VERSION', value: t.version.replaceAll('$', '$$$$') },
    // The instance is the pod: its name, from the downward API.
    { name: 'SLUICE_INSTANCE', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  );
  return env;
}

/** A sluice probe as Kubernetes writes it: the port defaults to the serving port, seconds are whole. */
function probeOf(p: Probe, port: number): Record<string, unknown> {
  const action = p.httpGet
    ? {
        httpGet: {
          path: p.httpGet.path,
          port: p.httpGet.port ?? port,
          scheme: 'HTTP',
          ...(Object.keys(p.httpGet.headers).length > 0 ? { httpHeaders: Object.entries(p.httpGet.headers).map(([name, value]) => ({ name, value })) } : {}),
        },
      }
    : p.tcpSocket
      ? { tcpSocket: { port: p.tcpSocket.port ?? port } }
      : { exec: { command: [...(p.exec?.command ?? [])] } };
  return {
    ...action,
    initialDelaySeconds: wholeSeconds(p.initialDelaySeconds, 0),
    periodSeconds: wholeSeconds(p.periodSeconds, 1),
    timeoutSeconds: wholeSeconds(p.timeoutSeconds, 1),
    successThreshold: p.successThreshold,
    failureThreshold: p.failureThreshold,
  };
}

/** Kubernetes counts probe and grace times in whole seconds: sluice's fractions round up (0.5 s → 1). */
function wholeSeconds(seconds: number, min: number): number {
  // Float noise is not a second more: 2.1 + 0.9 is 3.0000000000000004, and must stay 3.
  return Math.max(min, Math.ceil(seconds - 1e-9));
}

/** Ten hex digits of SHA-256 over the pod template with keys sorted (Argo's hash label is ten characters too). */
function hashOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 10);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
