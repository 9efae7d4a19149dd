import { isMap, isScalar, type Node } from 'yaml';
import { header, toNode, type Imported, type Out, Peer } from './common.js';
import type { Ctx } from '../schema.js';
import type { FileIndex } from './file-index.js';

/**
 * Argo Rollouts (`argoproj.io/v1alpha1`) Rollout, AnalysisTemplate and
 * ClusterAnalysisTemplate as sluice documents. docs/import.md lists what maps and what warns.
 */

const ROUTER = "sluice's own router splits traffic on traffic.listen";

/** The pod template's first container's image tag (the version label), and its first containerPort. */
export function podFacts(peer: Peer, template: Node, path: string): { version: string; port: number; probes: Record<string, Out> | undefined } {
  const spec = peer.mapping(template, path).get('spec');
  if (!spec) return peer.fail(template, `${path}.spec`, 'missing required field', 'add spec: {containers: [{name, image}]}');
  const containers = peer.mapping(spec.value, `${path}.spec`).get('containers');
  if (!containers) return peer.fail(spec.value, `${path}.spec.containers`, 'missing required field', 'add containers: [{name, image}]');
  const first = peer.list(containers.value, `${path}.spec.containers`)[0];
  if (!first) return peer.fail(containers.value, `${path}.spec.containers`, 'is empty', 'list the app container first');
  const c = peer.mapping(first, `${path}.spec.containers[0]`);
  const imageNode = c.get('image')?.value;
  const image = imageNode ? peer.string(imageNode, `${path}.spec.containers[0].image`) : '';
  const tag = /@sha256:([0-9a-f]{12})/.exec(image)?.[1] ?? /:([^/:@]+)$/.exec(image)?.[1] ?? 'latest';
  let port = 8080;
  const ports = c.get('ports');
  const firstPort = ports ? peer.list(ports.value, `${path}.spec.containers[0].ports`)[0] : undefined;
  const cp = firstPort ? peer.mapping(firstPort, `${path}.spec.containers[0].ports[0]`).get('containerPort') : undefined;
  if (cp) port = peer.number(cp.value, `${path}.spec.containers[0].ports[0].containerPort`);
  return { version: tag.replace(/\s/g, ''), port, probes: probesOf(peer.plain(first) as Record<string, unknown>) };
}

/**
 * The app container's own probes as sluice's `template.probes`, so sluice's view (lint,
 * `sluice get`) says what the pod checks; the pod keeps its probes as written either way.
 * A probe sluice cannot express (gRPC, HTTPS, a named port) is left to the pod alone.
 */
function probesOf(container: Record<string, unknown>): Record<string, Out> | undefined {
  const out: Record<string, Out> = {};
  for (const [k8s, sluice] of [
    ['readinessProbe', 'readiness'],
    ['livenessProbe', 'liveness'],
    ['startupProbe', 'startup'],
  ] as const) {
    const p = container[k8s] as Record<string, unknown> | undefined;
    if (!p || typeof p !== 'object') continue;
    const probe: Record<string, Out> = {};
    const port = (x: unknown) => (typeof x === 'number' ? x : undefined);
    const http = p.httpGet as Record<string, unknown> | undefined;
    const tcp = p.tcpSocket as Record<string, unknown> | undefined;
    const exec = p.exec as { command?: unknown } | undefined;
    if (http && typeof http === 'object') {
      if ((http.scheme !== undefined && http.scheme !== 'HTTP') || (http.port !== undefined && port(http.port) === undefined)) continue;
      const headers = Array.isArray(http.httpHeaders)
        ? Object.fromEntries((http.httpHeaders as Array<{ name?: unknown; value?: unknown }>).map((h) => [String(h.name), String(h.value)]))
        : undefined;
      probe.httpGet = { path: typeof http.path === 'string' ? http.path : '/', port: port(http.port), headers };
    } else if (tcp && typeof tcp === 'object') {
      if (tcp.port !== undefined && port(tcp.port) === undefined) continue;
      probe.tcpSocket = { port: port(tcp.port) };
    } else if (exec && Array.isArray(exec.command) && exec.command.every((c) => typeof c === 'string')) {
      probe.exec = { command: exec.command as string[] };
    } else continue;
    for (const t of ['initialDelaySeconds', 'periodSeconds', 'timeoutSeconds', 'successThreshold', 'failureThreshold']) {
      if (typeof p[t] === 'number') probe[t] = p[t] as number;
    }
    out[sluice] = probe;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** `analysis:` of a step, background analysis, pre/post promotion analysis. */
function analysisRef(peer: Peer, node: Node, path: string, background: boolean): Out {
  const out: Record<string, Out> = {};
  peer.walk(
    node,
    path,
    {
      templates: (v, f) => {
        out.templates = peer.list(v, f).map((t, i) => {
          const entry: Record<string, Out> = {};
          peer.walk(
            t,
            `${f}[${i}]`,
            { templateName: (name) => void (entry.templateName = name) },
            { clusterScope: 'the ClusterAnalysisTemplate is read as an AnalysisTemplate of the same name' },
          );
          return entry;
        });
      },
      args: (v, f) => {
        out.args = peer.list(v, f).map((a, i) => {
          const entry: Record<string, Out> = {};
          peer.walk(
            a,
            `${f}[${i}]`,
            { name: (n) => void (entry.name = n), value: (x) => void (entry.value = x) },
            { valueFrom: 'the argument gets no value from the cluster; give it a value' },
          );
          return entry;
        });
      },
      ...(background ? { startingStep: (v: Node) => void (out.startingStep = v) } : {}),
    },
    {
      dryRun: 'every metric decides; mark a metric dryRun: true in the AnalysisTemplate instead',
      measurementRetention: 'sluice keeps the recent measurements of every run',
      analysisRunMetadata: 'runs carry no labels or annotations',
    },
  );
  return out;
}

function canary(peer: Peer, node: Node, path: string, listen: { port: number }): { strategy: Out; traffic: Record<string, Out> } {
  const out: Record<string, Out> = {};
  const traffic: Record<string, Out> = {};
  peer.walk(
    node,
    path,
    {
      maxSurge: (v) => void (out.maxSurge = v),
      maxUnavailable: (v) => void (out.maxUnavailable = v),
      analysis: (v, f) => void (out.analysis = analysisRef(peer, v, f, true)),
      canaryService: (v, f) => {
        peer.warn(v, f, `the canary alone is reachable on traffic.canaryListen 127.0.0.1:${listen.port + 1}`);
        out.canaryListen = `127.0.0.1:${listen.port + 1}`;
      },
      steps: (v, f) => {
        out.steps = peer.list(v, f).flatMap((step, i): Out[] => {
          const s = peer.mapping(step, `${f}[${i}]`);
          const at = `${f}[${i}]`;
          const [name, entry] = [...s][0] ?? ['', undefined];
          if (!entry || s.size !== 1) return peer.fail(step, at, `must set exactly one step type, got ${s.size}`, 'write e.g. - setWeight: 20');
          const sf = `${at}.${name}`;
          switch (name) {
            case 'setWeight':
            case 'setCanaryScale':
            case 'setHeaderRoute':
              return [{ [name]: entry.value }];
            case 'pause': {
              const pause: Record<string, Out> = {};
              peer.walk(entry.value, sf, { duration: (d) => void (pause.duration = d) });
              return [{ pause }];
            }
            case 'analysis':
              return [{ analysis: analysisRef(peer, entry.value, sf, false) }];
            case 'setMirrorRoute': {
              const m = peer.mapping(entry.value, sf);
              const mirror: Record<string, Out> = { name: m.get('name')?.value };
              if (m.has('percentage')) mirror.percentage = m.get('percentage')!.value;
              if (m.has('match')) {
                peer.warn(
                  m.get('match')!.key,
                  `${sf}.match`,
                  'sluice mirrors GET, HEAD and OPTIONS requests of every path; write the conditions as sluice match',
                );
                mirror.match = {};
              }
              for (const [k, { key }] of m) if (!['name', 'percentage', 'match'].includes(k)) peer.warn(key, `${sf}.${k}`, 'it is ignored');
              if (mirror.percentage === undefined && mirror.match !== undefined) mirror.percentage = 100;
              return [{ setMirrorRoute: mirror }];
            }
            default:
              peer.warn(entry.key, sf, name === 'experiment' ? 'the step is left out; use an abTest strategy for experiments' : 'the step is left out');
              return [];
          }
        });
      },
      trafficRouting: (v, f) => {
        for (const [name, { key }] of peer.mapping(v, f)) {
          if (name === 'managedRoutes') peer.warn(key, `${f}.${name}`, 'sluice manages header and mirror routes itself');
          else if (name === 'plugins') {
            for (const [plugin, p] of peer.mapping(peer.mapping(v, f).get('plugins')!.value, `${f}.plugins`)) {
              peer.warn(p.key, `${f}.plugins.${plugin}`, `${ROUTER} (no Gateway API HTTPRoute is changed)`);
            }
          } else peer.warn(key, `${f}.${name}`, `${ROUTER} (no ${name} resource is changed)`);
        }
      },
    },
    {
      stableService: `${ROUTER}; no Service is changed`,
      antiAffinity: 'pods are placed by the scheduler; put affinity in the pod template',
      scaleDownDelaySeconds: 'the old revision stops as soon as the canary is promoted',
      scaleDownDelayRevisionLimit: 'the old revision stops as soon as the canary is promoted',
      abortScaleDownDelaySeconds: 'an aborted canary stops at once',
      dynamicStableScale: 'the stable revision keeps its replicas until promotion',
      canaryMetadata: 'sluice labels pods by revision (sluice.dev/revision)',
      stableMetadata: 'sluice labels pods by revision (sluice.dev/revision)',
      pingPong: 'sluice keeps one stable and one canary revision',
      minPodsPerReplicaSet: 'the canary has at least one instance while it gets traffic',
    },
  );
  return { strategy: { canary: out }, traffic };
}

function blueGreen(peer: Peer, node: Node, path: string, listen: { port: number }): Out {
  const out: Record<string, Out> = {};
  peer.walk(
    node,
    path,
    {
      activeService: (v, f) => peer.warn(v, f, `the active revision is served on traffic.listen 127.0.0.1:${listen.port}; no Service is changed`),
      previewService: (v, f) => {
        peer.warn(v, f, `the preview revision is served on previewListen 127.0.0.1:${listen.port + 1}; no Service is changed`);
        out.previewListen = `127.0.0.1:${listen.port + 1}`;
      },
      autoPromotionEnabled: (v) => void (out.autoPromotionEnabled = v),
      autoPromotionSeconds: (v) => void (out.autoPromotionSeconds = v),
      scaleDownDelaySeconds: (v) => void (out.scaleDownDelaySeconds = v),
      previewReplicaCount: (v) => void (out.previewReplicaCount = v),
      prePromotionAnalysis: (v, f) => void (out.prePromotionAnalysis = analysisRef(peer, v, f, false)),
      postPromotionAnalysis: (v, f) => void (out.postPromotionAnalysis = analysisRef(peer, v, f, false)),
    },
    {
      antiAffinity: 'pods are placed by the scheduler; put affinity in the pod template',
      scaleDownDelayRevisionLimit: 'one old revision is kept for scaleDownDelaySeconds',
      abortScaleDownDelaySeconds: 'an aborted preview stops at once',
      activeMetadata: 'sluice labels pods by revision (sluice.dev/revision)',
      previewMetadata: 'sluice labels pods by revision (sluice.dev/revision)',
    },
  );
  return { blueGreen: out };
}

/** metadata: name, labels, namespace; the rest warned. */
export function metadata(peer: Peer, root: Node, kubernetes: Record<string, Out> | undefined): { name: Node; labels?: Node } {
  const meta = peer.need(peer.mapping(root, ''), 'metadata', root, '');
  const out: { name?: Node; labels?: Node } = {};
  peer.walk(
    meta,
    'metadata',
    {
      name: (v, f) => {
        peer.name = peer.string(v, f);
        out.name = v;
      },
      labels: (v) => void (out.labels = v),
      namespace: (v, f) => {
        if (kubernetes) kubernetes.namespace = v;
        else peer.warn(v, f, 'sluice templates have no namespace; it is left out');
      },
    },
    { annotations: 'sluice keeps no annotations on its documents' },
  );
  if (!out.name) return peer.fail(meta, 'metadata.name', 'missing required field', 'add name: NAME');
  return out as { name: Node; labels?: Node };
}

/** A sluice Rollout written with Argo's apiVersion (its template has version/command, no pod spec): say so. */
function sluiceShaped(peer: Peer, root: Node, template: Node | undefined): void {
  const t = peer.resolve(template);
  if (!t || !isMap(t)) return;
  const keys = t.items.map((p) => (isScalar(p.key) ? String(p.key.value) : ''));
  if (keys.includes('spec') || !keys.some((k) => ['version', 'command', 'image', 'podTemplate'].includes(k))) return;
  const api = peer.mapping(root, '').get('apiVersion')?.value;
  peer.fail(
    api,
    'apiVersion',
    "is argoproj.io/v1alpha1, but spec.template is sluice's ({version, command…}), not a pod template",
    'write apiVersion: sluice.dev/v1alpha1 (or an Argo Rollout with a PodTemplateSpec)',
  );
}

export function rolloutDocument(root: Node, ctx: Ctx, index: FileIndex): Imported {
  const peer = new Peer(ctx, 'Rollout');
  const kubernetes: Record<string, Out> = {};
  const { name, labels } = metadata(peer, root, kubernetes);
  const specNode = peer.need(peer.mapping(root, ''), 'spec', root, '');
  const spec: Record<string, Out> = { platform: 'kubernetes' };
  const fields = peer.mapping(specNode, 'spec');
  let podTemplate: Node | undefined = fields.get('template')?.value;
  sluiceShaped(peer, root, podTemplate);
  let podPath = 'spec.template';
  const ref = fields.get('workloadRef');
  if (ref) {
    const r = peer.mapping(ref.value, 'spec.workloadRef');
    const refName = peer.string(peer.need(r, 'name', ref.value, 'spec.workloadRef'), 'spec.workloadRef.name');
    const kind = r.get('kind') ? peer.string(r.get('kind')!.value, 'spec.workloadRef.kind') : 'Deployment';
    const target = kind === 'Deployment' ? index.deployment(refName) : undefined;
    if (!target) {
      return peer.fail(
        ref.value,
        'spec.workloadRef',
        `names ${kind} ${refName}, which is not in this file`,
        'put the Deployment in the same file, or write spec.template',
      );
    }
    if (podTemplate) return peer.fail(ref.value, 'spec.workloadRef', 'is set beside spec.template', 'keep one of them');
    podTemplate = target.template;
    if (target.replicas)
      peer.warn(target.replicas, `Deployment ${refName} spec.replicas`, "the Rollout's spec.replicas is the count (Argo scales the Deployment to 0)");
    for (const { key, name: field } of target.rest) peer.warn(key, `Deployment ${refName} spec.${field}`, 'only the pod template is read from the Deployment');
    podPath = `Deployment ${refName} spec.template`;
    if (r.has('scaleDown')) peer.warn(r.get('scaleDown')!.key, 'spec.workloadRef.scaleDown', 'the Deployment is read, never scaled');
  }
  if (!podTemplate) return peer.fail(specNode, 'spec.template', 'missing required field', 'add template: (a PodTemplateSpec) or workloadRef');
  const facts = podFacts(peer, podTemplate, podPath);
  spec.template = { version: facts.version, probes: facts.probes, podTemplate };
  const traffic: Record<string, Out> = { listen: `127.0.0.1:${facts.port}` };
  let strategy: Out;
  peer.walk(
    specNode,
    'spec',
    {
      replicas: (v) => void (spec.replicas = v),
      minReadySeconds: (v) => void (spec.minReadySeconds = v),
      revisionHistoryLimit: (v) => void (spec.revisionHistoryLimit = v),
      progressDeadlineSeconds: (v) => void (spec.progressDeadlineSeconds = v),
      template: () => {},
      workloadRef: () => {},
      strategy: (v, f) => {
        const s = peer.mapping(v, f);
        if (s.size !== 1) return peer.fail(v, f, `must set exactly one of canary, blueGreen, got ${s.size}`, 'keep one strategy');
        const [type, entry] = [...s][0]!;
        if (type === 'canary') strategy = canary(peer, entry.value, `${f}.canary`, facts).strategy;
        else if (type === 'blueGreen') strategy = blueGreen(peer, entry.value, `${f}.blueGreen`, facts);
        else peer.fail(entry.key, `${f}.${type}`, 'is not a strategy of Argo Rollouts', 'write canary or blueGreen');
      },
    },
    {
      selector: 'sluice selects pods by its own labels (sluice.dev/rollout, sluice.dev/revision)',
      paused: 'the rollout starts unpaused; use `sluice pause NAME`',
      progressDeadlineAbort: 'a stalled release is reported, and aborted by analysis only',
      restartAt: 'use `sluice restart NAME` to restart the pods',
      rollbackWindow: 'every revision in revisionHistoryLimit can be rolled back to',
      analysis: 'analysis runs are kept for the revisionHistoryLimit',
    },
  );
  if (strategy === undefined) return peer.fail(specNode, 'spec.strategy', 'missing required field', 'add strategy: {canary: {steps: [...]}}');
  spec.traffic = traffic;
  spec.strategy = strategy;
  if (Object.keys(kubernetes).length > 0) spec.kubernetes = kubernetes;
  return { kind: 'Rollout', node: toNode({ ...header('Rollout', name, labels), spec }, root), warnings: peer.warnings };
}

/** Argo's `headers: [{key, value}]` as sluice's `Name: value` mapping. */
function headerMap(peer: Peer, node: Node, path: string): Out {
  const out: Record<string, Out> = {};
  peer.list(node, path).forEach((h, i) => {
    const m = peer.mapping(h, `${path}[${i}]`);
    out[peer.string(peer.need(m, 'key', h, `${path}[${i}]`), `${path}[${i}].key`)] = peer.need(m, 'value', h, `${path}[${i}]`);
  });
  return out;
}

function provider(peer: Peer, node: Node, path: string): Out {
  const p = peer.mapping(node, path);
  if (p.size !== 1) return peer.fail(node, path, `must set exactly one provider, got ${p.size}`, 'write prometheus, web or job');
  const [type, { value }] = [...p][0]!;
  const f = `${path}.${type}`;
  const out: Record<string, Out> = {};
  switch (type) {
    case 'prometheus':
      peer.walk(
        value,
        f,
        {
          address: (v) => void (out.address = v),
          query: (v) => void (out.query = v),
          timeout: (v, field) => void (out.timeoutSeconds = peer.number(v, field)),
          headers: (v, field) => void (out.headers = headerMap(peer, v, field)),
        },
        {
          authentication: 'sluice sends no SigV4 or OAuth2 credentials; put a token in headers',
          insecure: 'TLS certificates are always verified',
        },
      );
      return { prometheus: out };
    case 'web':
      peer.walk(
        value,
        f,
        {
          url: (v) => void (out.url = v),
          method: (v) => void (out.method = v),
          headers: (v, field) => void (out.headers = headerMap(peer, v, field)),
          body: (v) => void (out.body = v),
          jsonBody: (v) => void (out.body = v),
          jsonPath: (v) => void (out.jsonPath = v),
          timeoutSeconds: (v) => void (out.timeoutSeconds = v),
        },
        { insecure: 'TLS certificates are always verified' },
      );
      return { web: out };
    case 'job': {
      // A Kubernetes Job: sluice runs its first container's command as a local process.
      const job = peer.mapping(value, f);
      const spec = peer.need(job, 'spec', value, f);
      const template = peer.need(peer.mapping(spec, `${f}.spec`), 'template', spec, `${f}.spec`);
      const podSpec = peer.need(peer.mapping(template, `${f}.spec.template`), 'spec', template, `${f}.spec.template`);
      const containers = peer.list(
        peer.need(peer.mapping(podSpec, `${f}.spec.template.spec`), 'containers', podSpec, `${f}.spec.template.spec`),
        `${f}.spec.template.spec.containers`,
      );
      const cf = `${f}.spec.template.spec.containers[0]`;
      if (!containers[0]) return peer.fail(podSpec, `${f}.spec.template.spec.containers`, 'is empty', 'list the container that runs the check');
      const c = peer.mapping(containers[0], cf);
      const command = [
        ...(c.has('command') ? peer.list(c.get('command')!.value, `${cf}.command`) : []),
        ...(c.has('args') ? peer.list(c.get('args')!.value, `${cf}.args`) : []),
      ];
      if (command.length === 0) return peer.fail(containers[0], `${cf}.command`, 'missing required field', 'give the container a command');
      if (c.has('image')) peer.warn(c.get('image')!.key, `${cf}.image`, 'the command runs as a local process of the control plane, not in a pod');
      const env: Record<string, Out> = {};
      if (c.has('env')) {
        peer.list(c.get('env')!.value, `${cf}.env`).forEach((e, i) => {
          const m = peer.mapping(e, `${cf}.env[${i}]`);
          if (m.has('value')) env[peer.string(peer.need(m, 'name', e, `${cf}.env[${i}]`), `${cf}.env[${i}].name`)] = m.get('value')!.value;
          else peer.warn(e, `${cf}.env[${i}].valueFrom`, 'the variable is left out');
        });
      }
      for (const [k, { key }] of job) if (k !== 'spec') peer.warn(key, `${f}.${k}`, 'it is ignored');
      for (const [k, { key }] of peer.mapping(spec, `${f}.spec`))
        if (k !== 'template') peer.warn(key, `${f}.spec.${k}`, 'the command runs once per measurement');
      for (const [k, { key }] of c) if (!['name', 'image', 'command', 'args', 'env'].includes(k)) peer.warn(key, `${cf}.${k}`, 'it is ignored');
      for (const [k, { key }] of peer.mapping(template, `${f}.spec.template`)) if (k !== 'spec') peer.warn(key, `${f}.spec.template.${k}`, 'it is ignored');
      for (const [k, { key }] of peer.mapping(podSpec, `${f}.spec.template.spec`)) {
        if (k !== 'containers') peer.warn(key, `${f}.spec.template.spec.${k}`, 'the command runs once per measurement, as a local process');
      }
      for (const [i, x] of containers.slice(1).entries()) peer.warn(x, `${f}.spec.template.spec.containers[${i + 1}]`, 'only the first container runs');
      return { job: { command, ...(Object.keys(env).length > 0 ? { env } : {}) } };
    }
    default:
      return peer.fail(node, f, 'is not a provider sluice can query', 'use prometheus, web or job (or sluice builtin metrics)');
  }
}

function metric(peer: Peer, node: Node, path: string, dryRun: Set<string>): Out {
  const out: Record<string, Out> = {};
  const pass = (name: string) => (v: Node) => void (out[name] = v);
  peer.walk(
    node,
    path,
    {
      name: (v, f) => {
        out.name = v;
        if (dryRun.has(peer.string(v, f)) || dryRun.has('*')) out.dryRun = true;
      },
      provider: (v, f) => void (out.provider = provider(peer, v, f)),
      interval: pass('interval'),
      count: pass('count'),
      initialDelay: pass('initialDelay'),
      successCondition: pass('successCondition'),
      failureCondition: pass('failureCondition'),
      failureLimit: pass('failureLimit'),
      inconclusiveLimit: pass('inconclusiveLimit'),
      consecutiveErrorLimit: pass('consecutiveErrorLimit'),
    },
    { consecutiveSuccessLimit: 'a metric passes on its successCondition and limits alone' },
  );
  return out;
}

/** AnalysisTemplate and ClusterAnalysisTemplate (cluster-scoped: sluice's templates have no namespace). */
export function analysisTemplateDocument(root: Node, ctx: Ctx, kind: 'AnalysisTemplate' | 'ClusterAnalysisTemplate'): Imported {
  const peer = new Peer(ctx, kind);
  const { name, labels } = metadata(peer, root, undefined);
  const specNode = peer.need(peer.mapping(root, ''), 'spec', root, '');
  const spec: Record<string, Out> = {};
  const dryRun = new Set<string>();
  const sf = peer.mapping(specNode, 'spec');
  if (sf.has('dryRun')) {
    peer.list(sf.get('dryRun')!.value, 'spec.dryRun').forEach((d, i) => {
      const n = peer.mapping(d, `spec.dryRun[${i}]`).get('metricName');
      if (n) dryRun.add(peer.string(n.value, `spec.dryRun[${i}].metricName`));
    });
  }
  peer.walk(
    specNode,
    'spec',
    {
      args: (v, f) => {
        spec.args = peer.list(v, f).map((a, i) => {
          const entry: Record<string, Out> = {};
          peer.walk(
            a,
            `${f}[${i}]`,
            { name: (n) => void (entry.name = n), value: (x) => void (entry.value = x) },
            { valueFrom: 'the argument has no default; the reference must give its value' },
          );
          return entry;
        });
      },
      metrics: (v, f) => void (spec.metrics = peer.list(v, f).map((m, i) => metric(peer, m, `${f}[${i}]`, dryRun))),
      dryRun: () => {},
    },
    { measurementRetention: 'sluice keeps the recent measurements of every run' },
  );
  if (!spec.metrics) return peer.fail(specNode, 'spec.metrics', 'missing required field', 'add metrics: [...]');
  const warnings = peer.warnings;
  if (kind === 'ClusterAnalysisTemplate') {
    const where = `${ctx.file}:${peer.line(root)}: ${kind} ${peer.name}`;
    warnings.unshift(`${where}: cluster scope is not supported by sluice: it becomes an AnalysisTemplate, which every rollout of the control plane can use`);
  }
  return { kind: 'AnalysisTemplate', node: toNode({ ...header('AnalysisTemplate', name, labels), spec }, root), warnings };
}
