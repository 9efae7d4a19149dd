import { isMap, isScalar, type Node } from 'yaml';
import { durationSeconds, header, toNode, type Imported, type Out, Peer } from './common.js';
import { metadata, podFacts } from './argo-rollouts.js';
import { Ctx } from '../schema.js';
import type { FileIndex } from './file-index.js';

/**
 * Flagger (`flagger.app/v1beta1` Canary and MetricTemplate, `flagger.app/v1alpha3` Canary
 * with `canaryAnalysis`) as sluice documents. The Canary's analysis is expanded here,
 * the way Flagger runs it: weights (stepWeight…maxWeight, or stepWeights) each held for one
 * interval, `iterations` with `match` as a header route (A/B), `iterations` alone as
 * blue-green. docs/import.md lists what maps and what warns.
 */

const ROUTER = "sluice's own router splits traffic on traffic.listen";
/** Flagger's default Prometheus when a v1alpha3 metric has a query of its own. */
const DEFAULT_PROMETHEUS = 'http://prometheus:9090';

interface Analysis {
  interval: number;
  intervalNode?: Node;
  threshold: number;
  iterations?: number;
  weights: number[];
  match?: Out[];
  mirror: boolean;
  mirrorWeight?: Node;
  metrics: Record<string, Out>[];
  webhooks: Record<string, Out>[];
}

function seconds(peer: Peer, node: Node, field: string): number {
  const n = peer.resolve(node);
  if (n && isScalar(n) && typeof n.value === 'number' && n.value > 0) return n.value;
  const s = n && isScalar(n) && typeof n.value === 'string' ? durationSeconds(n.value) : undefined;
  if (s === undefined || s <= 0)
    return peer.fail(n, field, `must be a duration, got ${n && isScalar(n) ? JSON.stringify(n.value) : 'nothing'}`, 'write e.g. 1m or 30s');
  return s;
}

/** Flagger's query template variables, with the values this Canary gives them (or `{{args.x}}`). */
function substitute(query: string, vars: Record<string, string>): string {
  return query.replace(/\{\{\s*(variables\.)?([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (whole, v: string | undefined, name: string) => {
    const key = v ? `variables.${name}` : name;
    return Object.hasOwn(vars, key) ? vars[key]! : whole;
  });
}

function conditionOf(range: { min?: number; max?: number }, scale = 1): string | undefined {
  const parts: string[] = [];
  if (range.min !== undefined) parts.push(`result >= ${range.min / scale}`);
  if (range.max !== undefined) parts.push(`result <= ${range.max / scale}`);
  return parts.length > 0 ? parts.join(' && ') : undefined;
}

function metric(
  peer: Peer,
  node: Node,
  f: string,
  a: { interval: number; intervalNode?: Node; threshold: number },
  index: FileIndex,
  vars: Record<string, string>,
): Record<string, Out> {
  const m = peer.mapping(node, f);
  const nameNode = peer.need(m, 'name', node, f);
  const name = peer.string(nameNode, `${f}.name`);
  const range: { min?: number; max?: number } = {};
  let interval = a.interval;
  let templateRef: Node | undefined;
  let query: Node | undefined;
  const vs = { ...vars };
  peer.walk(node, f, {
    name: () => {},
    interval: (v, field) => void (interval = seconds(peer, v, field)),
    thresholdRange: (v, field) =>
      peer.walk(v, field, { min: (x, ff) => void (range.min = peer.number(x, ff)), max: (x, ff) => void (range.max = peer.number(x, ff)) }),
    // v1alpha3: one number, the success rate's minimum, any other metric's maximum (as Flagger checked it).
    threshold: (v, field) => {
      const t = peer.number(v, field);
      if (name === 'request-success-rate') range.min = t;
      else range.max = t;
    },
    templateRef: (v) => void (templateRef = v),
    templateVariables: (v, field) => {
      for (const [k, { value }] of peer.mapping(v, field)) vs[`variables.${k}`] = String(peer.plain(value));
    },
    query: (v) => void (query = v),
  });
  // Flagger writes the metric's interval as given (1m), falling back to the analysis's.
  const written = [m.get('interval')?.value, a.intervalNode].find((n) => n && isScalar(n) && typeof n.value === 'string');
  vs.interval = written && isScalar(written) ? String(written.value) : `${interval}s`;
  const condition = conditionOf(range);
  const base = { name: nameNode, interval, count: 0, failureLimit: a.threshold - 1 };
  if (templateRef) {
    const r = peer.mapping(templateRef, `${f}.templateRef`);
    const refName = peer.string(peer.need(r, 'name', templateRef, `${f}.templateRef`), `${f}.templateRef.name`);
    if (r.has('namespace')) peer.warn(r.get('namespace')!.key, `${f}.templateRef.namespace`, 'the MetricTemplate is looked up by name in this file');
    const template = index.metricTemplates.get(refName);
    if (!template) {
      return peer.fail(
        templateRef,
        `${f}.templateRef`,
        `names MetricTemplate ${refName}, which is not in this file`,
        'put the MetricTemplate in the same file as the Canary',
      );
    }
    const tpeer = new Peer(new Ctx(template.doc, peer.ctx.file, peer.ctx.lines), 'MetricTemplate');
    const { address, query: q } = metricTemplateParts(tpeer, template.root);
    return { ...base, successCondition: condition, provider: { prometheus: { address, query: substitute(q, vs) } } };
  }
  if (query) {
    peer.warn(query, `${f}.query`, `the query is sent to ${DEFAULT_PROMETHEUS}; use a MetricTemplate to name the Prometheus`);
    return {
      ...base,
      successCondition: condition,
      provider: { prometheus: { address: DEFAULT_PROMETHEUS, query: substitute(peer.string(query, `${f}.query`), vs) } },
    };
  }
  if (name === 'request-success-rate') {
    if (range.min === undefined && range.max === undefined)
      return peer.fail(node, `${f}.thresholdRange`, 'missing required field', 'add thresholdRange: {min: 99}');
    return { ...base, successCondition: conditionOf(range, 100), provider: { builtin: { metric: 'success-rate', windowSeconds: interval } } };
  }
  if (name === 'request-duration') {
    if (range.min === undefined && range.max === undefined)
      return peer.fail(node, `${f}.thresholdRange`, 'missing required field', 'add thresholdRange: {max: 500}');
    return { ...base, successCondition: conditionOf(range, 1000), provider: { builtin: { metric: 'latency-p99', windowSeconds: interval } } };
  }
  return peer.fail(
    nameNode,
    `${f}.name`,
    `${name} is not a builtin metric`,
    'use request-success-rate or request-duration, or add templateRef: {name: METRIC_TEMPLATE}',
  );
}

function webhook(peer: Peer, node: Node, f: string): Record<string, Out> {
  const out: Record<string, Out> = { kind: 'rollout' };
  peer.walk(
    node,
    f,
    {
      name: (v) => void (out.name = v),
      type: (v) => void (out.kind = v),
      url: (v) => void (out.url = v),
      timeout: (v) => void (out.timeoutSeconds = v),
      metadata: (v) => void (out.metadata = v),
      retries: (v) => void (out.retries = v),
    },
    { muteAlert: 'sluice sends no alerts of its own', disableTLS: 'TLS certificates are always verified' },
  );
  return out;
}

function analysis(peer: Peer, node: Node, f: string, index: FileIndex, vars: Record<string, string>): Analysis {
  const a = peer.mapping(node, f);
  const interval = a.has('interval') ? seconds(peer, a.get('interval')!.value, `${f}.interval`) : 60;
  const threshold = a.has('threshold') ? peer.number(a.get('threshold')!.value, `${f}.threshold`) : 5;
  const out: Analysis = { interval, threshold, weights: [], mirror: false, metrics: [], webhooks: [] };
  if (a.has('interval')) out.intervalNode = a.get('interval')!.value;
  let stepWeight: number | undefined;
  let maxWeight = 50;
  let stepWeights: number[] | undefined;
  peer.walk(
    node,
    f,
    {
      interval: () => {},
      threshold: () => {},
      iterations: (v, field) => void (out.iterations = peer.number(v, field)),
      stepWeight: (v, field) => void (stepWeight = peer.number(v, field)),
      maxWeight: (v, field) => void (maxWeight = peer.number(v, field)),
      stepWeights: (v, field) => void (stepWeights = peer.list(v, field).map((w, i) => peer.number(w, `${field}[${i}]`))),
      mirror: (v, field) => void (out.mirror = peer.boolean(v, field)),
      mirrorWeight: (v) => void (out.mirrorWeight = v),
      match: (v, field) => {
        const conditions: Out[] = [];
        peer.list(v, field).forEach((m, i) => {
          peer.walk(
            m,
            `${field}[${i}]`,
            {
              headers: (h, hf) => {
                for (const [name, { key, value }] of peer.mapping(h, hf)) {
                  const ops = peer.mapping(value, `${hf}.${name}`);
                  for (const [op, { key: opKey, value: opValue }] of ops) {
                    if (op === 'exact' || op === 'prefix' || op === 'regex') conditions.push({ headerName: key, headerValue: { [op]: opValue } });
                    else peer.warn(opKey, `${hf}.${name}.${op}`, 'the condition is left out; use exact, prefix or regex');
                  }
                }
              },
            },
            {
              sourceLabels: 'requests are matched on headers only',
              uri: 'requests are matched on headers only',
              method: 'requests are matched on headers only',
            },
          );
        });
        if (conditions.length > 1) peer.warn(v, `${field}[1]`, 'a header route has one condition; only the first one is kept');
        out.match = conditions.slice(0, 1);
      },
      metrics: (v, field) => void (out.metrics = peer.list(v, field).map((m, i) => metric(peer, m, `${field}[${i}]`, out, index, vars))),
      webhooks: (v, field) => void (out.webhooks = peer.list(v, field).map((w, i) => webhook(peer, w, `${field}[${i}]`))),
    },
    {
      stepWeightPromotion: 'promotion switches all traffic at once',
      primaryReadyThreshold: 'every stable instance must be ready',
      canaryReadyThreshold: 'every canary instance must be ready',
      alerts: 'sluice sends its events to spec.notifications; add them there',
      sessionAffinity: 'add traffic.sticky to keep users on one revision',
    },
  );
  if (stepWeights) out.weights = stepWeights;
  else if (stepWeight !== undefined) for (let w = stepWeight; w <= maxWeight + 1e-9; w += stepWeight) out.weights.push(Math.round(w * 100) / 100);
  if (out.weights.length === 0 && out.iterations === undefined) {
    return peer.fail(node, f, 'gives no weights and no iterations', 'set stepWeight (with maxWeight), stepWeights or iterations');
  }
  return out;
}

/** The strategy Flagger runs for this analysis: a canary (weights, or A/B with match), or blue-green (iterations alone). */
function strategyOf(peer: Peer, a: Analysis, node: Node, f: string, port: number): Out {
  const metrics = a.metrics;
  const mirrorStep = a.mirror ? [{ setMirrorRoute: { name: 'mirror', percentage: a.mirrorWeight ?? 100, match: {} } }] : [];
  if (!a.mirror && a.mirrorWeight) peer.warn(a.mirrorWeight, `${f}.mirrorWeight`, 'mirror is not true, so nothing is mirrored');
  if (a.weights.length > 0) {
    if (a.iterations !== undefined) peer.warn(node, `${f}.iterations`, 'the weights decide how long the canary runs; iterations is left out');
    const steps = [...mirrorStep, ...a.weights.flatMap((w) => [{ setWeight: w }, { pause: { duration: a.interval } }])];
    return { canary: { steps, analysis: metrics.length > 0 ? { metrics } : undefined } };
  }
  const run = a.interval * (a.iterations ?? 1);
  if (a.match !== undefined) {
    const steps = [...mirrorStep, { setHeaderRoute: { name: 'ab-test', match: a.match } }, { pause: { duration: run } }];
    return { canary: { steps, analysis: metrics.length > 0 ? { metrics } : undefined } };
  }
  if (a.mirror) {
    // Blue/green with traffic mirroring: the green gets copies for the iterations, then takes over.
    return {
      shadow: {
        mirror: { name: 'mirror', percentage: a.mirrorWeight ?? 100 },
        durationSeconds: run,
        ...(metrics.length > 0 ? { analysis: { metrics } } : {}),
      },
    };
  }
  const finite = metrics.map((m) => ({ ...m, count: a.iterations ?? 1 }));
  return {
    blueGreen: {
      previewListen: `127.0.0.1:${port + 1}`,
      autoPromotionEnabled: true,
      ...(finite.length > 0 ? { prePromotionAnalysis: { metrics: finite } } : { autoPromotionSeconds: run }),
    },
  };
}

export function canaryDocument(root: Node, ctx: Ctx, index: FileIndex, version: 'v1beta1' | 'v1alpha3'): Imported {
  const peer = new Peer(ctx, 'Canary');
  const kubernetes: Record<string, Out> = {};
  const { name, labels } = metadata(peer, root, kubernetes);
  const specNode = peer.need(peer.mapping(root, ''), 'spec', root, '');
  const fields = peer.mapping(specNode, 'spec');
  const targetRef = peer.need(fields, 'targetRef', specNode, 'spec');
  const t = peer.mapping(targetRef, 'spec.targetRef');
  const targetName = peer.string(peer.need(t, 'name', targetRef, 'spec.targetRef'), 'spec.targetRef.name');
  const targetKind = t.has('kind') ? peer.string(t.get('kind')!.value, 'spec.targetRef.kind') : 'Deployment';
  const deployment = targetKind === 'Deployment' ? index.deployment(targetName) : undefined;
  if (!deployment) {
    return peer.fail(
      targetRef,
      'spec.targetRef',
      `names ${targetKind} ${targetName}, which is not in this file`,
      'put the Deployment in the same file as the Canary',
    );
  }
  // Flagger's primary copies the Deployment: its timings carry over (the Canary's progressDeadlineSeconds wins).
  const timings: Record<string, Out> = {};
  for (const { key, name: field, value } of deployment.rest) {
    if (['minReadySeconds', 'revisionHistoryLimit', 'progressDeadlineSeconds'].includes(field)) timings[field] = value;
    else peer.warn(key, `Deployment ${targetName} spec.${field}`, 'only the pod template, replicas and timings are read from the Deployment');
  }
  const facts = podFacts(peer, deployment.template, `Deployment ${targetName} spec.template`);
  const spec: Record<string, Out> = {
    platform: 'kubernetes',
    replicas: deployment.replicas,
    ...timings,
    template: { version: facts.version, probes: facts.probes, podTemplate: deployment.template },
  };
  let port = facts.port;
  const analysisKey = version === 'v1beta1' ? 'analysis' : 'canaryAnalysis';
  const namespace = isScalar(kubernetes.namespace) ? String(kubernetes.namespace.value) : 'default';
  const vars: Record<string, string> = { name: peer.name, target: targetName, namespace, service: targetName, ingress: targetName };
  let aNode: Node | undefined;
  peer.walk(
    specNode,
    'spec',
    {
      targetRef: () => {},
      progressDeadlineSeconds: (v) => void (spec.progressDeadlineSeconds = v),
      service: (v, f) => {
        peer.walk(
          v,
          f,
          {
            port: (p, pf) => void (port = peer.number(p, pf)),
            name: (n, nf) => {
              vars.service = peer.string(n, nf);
              peer.warn(n, nf, `${ROUTER}; no Service is made`);
            },
          },
          Object.fromEntries(
            [
              'targetPort',
              'portName',
              'portDiscovery',
              'appProtocol',
              'gateways',
              'hosts',
              'trafficPolicy',
              'match',
              'rewrite',
              'retries',
              'headers',
              'corsPolicy',
              'timeout',
              'meshName',
              'backends',
              'apex',
              'primary',
              'canary',
              'delegation',
            ].map((k) => [k, `${ROUTER}; the pods' first containerPort is served`]),
          ),
        );
        if (!peer.mapping(v, f).has('port')) peer.fail(v, `${f}.port`, 'missing required field', 'add port: 80');
      },
      [analysisKey]: (v) => void (aNode = v),
    },
    {
      provider: `${ROUTER}; no mesh or ingress resource is changed`,
      autoscalerRef: 'replicas come from the Deployment; no HorizontalPodAutoscaler is changed',
      ingressRef: `${ROUTER}; no Ingress is changed`,
      routeRef: `${ROUTER}; no HTTPRoute is changed`,
      upstreamRef: `${ROUTER}; no upstream is changed`,
      skipAnalysis: 'analysis always runs; remove its metrics to skip it',
      revertOnDeletion: 'deleting the rollout leaves what runs',
      suspend: 'use `sluice pause NAME`',
      analysis: `is the v1beta1 field; this Canary is ${version}, which names it canaryAnalysis`,
      canaryAnalysis: `is the v1alpha3 field; this Canary is ${version}, which names it analysis`,
    },
  );
  if (!fields.has('service')) peer.fail(specNode, 'spec.service', 'missing required field', 'add service: {port: 80}');
  if (!aNode)
    return peer.fail(specNode, `spec.${analysisKey}`, 'missing required field', 'add analysis: {interval: 1m, threshold: 5, stepWeight: 10, maxWeight: 50}');
  const a = analysis(peer, aNode, `spec.${analysisKey}`, index, vars);
  spec.traffic = { listen: `127.0.0.1:${port}` };
  spec.strategy = strategyOf(peer, a, aNode, `spec.${analysisKey}`, port);
  if (a.webhooks.length > 0) spec.hooks = { webhooks: a.webhooks };
  if (Object.keys(kubernetes).length > 0) spec.kubernetes = kubernetes;
  return { kind: 'Rollout', node: toNode({ ...header('Rollout', name, labels), spec }, root), warnings: peer.warnings };
}

/** A MetricTemplate's Prometheus address and query. */
function metricTemplateParts(peer: Peer, root: Node): { address: Out; query: string; warnings: string[] } {
  const specNode = peer.need(peer.mapping(root, ''), 'spec', root, '');
  const meta = peer.mapping(root, '').get('metadata')?.value;
  const metaName = meta && isMap(meta) ? peer.mapping(meta, 'metadata').get('name')?.value : undefined;
  if (!peer.name && metaName && isScalar(metaName)) peer.name = String(metaName.value);
  let address: Out;
  let query = '';
  peer.walk(specNode, 'spec', {
    provider: (v, f) => {
      peer.walk(
        v,
        f,
        {
          type: (x, xf) => {
            const type = peer.string(x, xf);
            if (type !== 'prometheus') peer.fail(x, xf, `${type} is not a provider sluice can query`, 'use type: prometheus');
          },
          address: (x) => void (address = x),
        },
        { secretRef: 'no credentials are sent; put a token in the metric headers', insecureSkipVerify: 'TLS certificates are always verified' },
      );
      if (!address) peer.fail(v, `${f}.address`, 'missing required field', 'add address: http://prometheus:9090');
    },
    query: (v, f) => void (query = peer.string(v, f)),
  });
  if (!peer.mapping(specNode, 'spec').has('provider'))
    peer.fail(specNode, 'spec.provider', 'missing required field', 'add provider: {type: prometheus, address: …}');
  if (!query) peer.fail(specNode, 'spec.query', 'missing required field', 'add query: PROMQL');
  return { address, query, warnings: peer.warnings };
}

/** A MetricTemplate on its own: an AnalysisTemplate with one metric, the query's variables as args. */
export function metricTemplateDocument(root: Node, ctx: Ctx): Imported {
  const peer = new Peer(ctx, 'MetricTemplate');
  const { name, labels } = metadata(peer, root, undefined);
  const { address, query } = metricTemplateParts(peer, root);
  const argNames = new Set<string>();
  const q = query.replace(/\{\{\s*(variables\.)?([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_whole, _v: string | undefined, n: string) => {
    argNames.add(n);
    return `{{args.${n}}}`;
  });
  const args = [...argNames].map((n) => (n === 'interval' ? { name: n, value: '1m' } : { name: n }));
  const spec = { args: args.length > 0 ? args : undefined, metrics: [{ name, provider: { prometheus: { address, query: q } } }] };
  peer.warnings.push(
    `${ctx.file}:${peer.line(root)}: MetricTemplate ${peer.name}: thresholdRange is not supported by sluice: the AnalysisTemplate has no successCondition (a Canary of the same file inlines the query with its own thresholdRange)`,
  );
  return { kind: 'AnalysisTemplate', node: toNode({ ...header('AnalysisTemplate', name, labels), spec }, root), warnings: peer.warnings };
}
