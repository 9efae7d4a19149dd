import { isMap, isScalar, type Node } from 'yaml';
import type { ContainerSettings, KubernetesSettings, PodTemplate, ResourceQuantities, SecretKeyRef } from '../core/spec.js';
import { LIMITS } from './limits.js';
import {
  boolean,
  type Ctx,
  type Decoder,
  describe,
  dnsLabel,
  integer,
  listOf,
  nameValueMap,
  object,
  oneOf,
  openObject,
  optional,
  refine,
  required,
  string,
  text,
  withSchema,
} from './schema.js';

/**
 * The Kubernetes side of a Rollout (issue 17): `template.image`, `template.container`,
 * `template.podTemplate`, `spec.kubernetes` and secretEnv's `secretKeyRef`. Names and
 * values are checked as the API server would (label syntax, quantities, DNS names), so a
 * mistake is one positioned line at `lint`/`apply`, not a refused pod later.
 * Patterns are written without nested ambiguity (`[a-z0-9]+(?:-+[a-z0-9]+)*`): they run
 * on untrusted text and go into the JSON Schemas.
 */

/** A DNS-1123 subdomain part: a label without the length bound. */
const DNS_PART = '[a-z0-9]+(?:-+[a-z0-9]+)*';
const DNS_SUBDOMAIN = new RegExp(`^${DNS_PART}(?:\\.${DNS_PART})*$`);

/** Kubernetes' qualified name: `[prefix/]name`, prefix a DNS subdomain of ≤ 253, name ≤ 63. */
export const LABEL_KEY = new RegExp(`^(?:(?=[^/]{1,253}/)${DNS_PART}(?:\\.${DNS_PART})*/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`);
/** A label value: empty, or ≤ 63 of alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric. */
export const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/**
 * An image reference as Docker and Kubernetes read it: `[registry[:port]/]path[:tag][@digest]`,
 * the path lowercase.
 */
const PATH_PART = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
/** As Docker tells a registry from a path: a first component with a dot or a port, or localhost. */
const HOST_PART = '[A-Za-z0-9]+(?:-+[A-Za-z0-9]+)*';
const REGISTRY = `(?:(?:${HOST_PART}(?:\\.${HOST_PART})+(?::[0-9]+)?|${HOST_PART}:[0-9]+|localhost)/)`;
export const IMAGE = new RegExp(
  `^${REGISTRY}?${PATH_PART}(?:/${PATH_PART})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`,
);
const IMAGE_FIX = 'write an image reference, e.g. ghcr.io/acme/web:v2 (lowercase repository, optional :tag and @sha256:digest)';
export const image = string({ fix: IMAGE_FIX, pattern: IMAGE, patternProblem: 'is not an image reference', maxLength: 512 });

/** Labels sluice sets on every pod and selects by: a user label may not take their place. */
export const RESERVED_LABEL = (key: string) => key.startsWith('sluice.dev/') || key === 'app.kubernetes.io/name';

const RESOURCE_NAME = string({
  fix: 'write the name of a Kubernetes object: lowercase letters, digits, "-" and ".", e.g. web-config',
  pattern: DNS_SUBDOMAIN,
  patternProblem: 'is not a Kubernetes object name',
  maxLength: 253,
});

/** Label keys with values checked as label values; `reserved` refuses sluice's own keys. */
function labelMap(noun: string, fix: string, opts: { reserved?: boolean; values?: 'label' | 'annotation' } = {}): Decoder<Record<string, string>> {
  const annotation = opts.values === 'annotation';
  const decode = nameValueMap(noun, LABEL_KEY, fix, {
    entries: LIMITS.mapEntries,
    ...(annotation ? { valueChars: LIMITS.envValueChars, totalChars: LIMITS.envTotalChars } : {}),
  });
  return refine(decode, (m, fail) => {
    for (const [key, value] of Object.entries(m)) {
      if (!annotation && !LABEL_VALUE.test(value)) {
        fail(
          `${JSON.stringify(value)} is not a valid label value`,
          'use at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit (or an empty value)',
          key,
        );
      }
      if (opts.reserved && RESERVED_LABEL(key)) {
        fail(
          `${key} is a label sluice sets on every pod (and selects by)`,
          key === 'app.kubernetes.io/name' ? 'leave it out; set metadata.service to name the app' : 'leave it out, or use another prefix',
          key,
        );
      }
    }
  });
}

const LABEL_FIX = 'write labels as key: value lines, e.g. team: payments';
export const podLabels = () => labelMap('label', LABEL_FIX, { reserved: true });
export const podAnnotations = () => labelMap('annotation', 'write annotations as key: value lines', { values: 'annotation' });
const nodeSelector = () => labelMap('node label', 'write the node labels to match as key: value lines, e.g. kubernetes.io/arch: amd64');
const SERVICE_ACCOUNT = string({
  fix: 'write the name of a ServiceAccount in the namespace, e.g. web',
  pattern: DNS_SUBDOMAIN,
  patternProblem: 'is not a ServiceAccount name',
  maxLength: 253,
});

/** `spec.kubernetes`. */
export const kubernetesSettings: Decoder<KubernetesSettings> = object({
  namespace: optional(dnsLabel()),
  serviceAccountName: optional(SERVICE_ACCOUNT),
  nodeSelector: optional(nodeSelector()),
  labels: optional(podLabels()),
  annotations: optional(podAnnotations()),
});

/** secretEnv's Kubernetes source. */
export const secretKeyRef: Decoder<SecretKeyRef> = object({
  name: required(RESOURCE_NAME, 'web-secrets (the Secret in the pod namespace)'),
  key: required(
    string({ fix: 'write the key inside the Secret, e.g. db-password', pattern: /^[-._a-zA-Z0-9]+$/, patternProblem: 'is not a Secret key', maxLength: 253 }),
    'db-password (a key of the Secret)',
  ),
  optional: optional(boolean('write true to start the pod without it when the Secret or key is missing')),
});

// ---- quantities

const QUANTITY = /^\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$/;
const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A quantity's value (cores, bytes), for comparing a request with its limit. */
export function quantityValue(q: string): number {
  const m = /^\+?([0-9.]+)([eE][-+]?[0-9]+)?([A-Za-z]*)$/.exec(q);
  if (!m) return Number.NaN;
  return Number(m[1]! + (m[2] ?? '')) * (SUFFIX[m[3]!] ?? Number.NaN);
}

/** A Kubernetes quantity: `250m`, `0.5`, `512Mi`, `1G`, kept as written (a YAML number as its text). */
function quantity(what: 'cpu' | 'memory'): Decoder<string> {
  const fix = what === 'cpu' ? 'write CPU as cores or millicores, e.g. 250m or 0.5' : 'write memory in bytes with a unit, e.g. 512Mi or 1Gi';
  return withSchema(
    (node: Node, ctx: Ctx) => {
      if (!isScalar(node) || (typeof node.value !== 'string' && typeof node.value !== 'number')) {
        ctx.fail(node, `must be a quantity, got ${describe(node)}`, fix);
      }
      const written = typeof node.value === 'number' ? (node.source ?? String(node.value)) : node.value.trim();
      if (!QUANTITY.test(written)) ctx.fail(node, `must be a quantity like ${what === 'cpu' ? '250m or 2' : '512Mi'}, got ${describe(node)}`, fix);
      if (what === 'memory' && written.endsWith('m')) {
        // Valid for Kubernetes, and a thousandth of a byte: always a mistake for Mi.
        ctx.fail(
          node,
          `${written} is ${written.slice(0, -1)} thousandths of a byte`,
          `write ${written.slice(0, -1)}Mi (mebibytes) or ${written.slice(0, -1)}M`,
        );
      }
      if (!Number.isFinite(quantityValue(written))) ctx.fail(node, `${written} is too large`, fix);
      return written;
    },
    () => ({
      oneOf: [
        { type: 'number', minimum: 0 },
        { type: 'string', pattern: `^\\s*${QUANTITY.source.slice(1, -1)}\\s*$` },
      ],
      description: fix,
    }),
  );
}

const quantities = (): Decoder<ResourceQuantities> => object({ cpu: optional(quantity('cpu')), memory: optional(quantity('memory')) });

const resources = refine(object({ requests: optional(quantities()), limits: optional(quantities()) }), (r, fail) => {
  for (const what of ['cpu', 'memory'] as const) {
    const request = r.requests?.[what];
    const limit = r.limits?.[what];
    if (request !== undefined && limit !== undefined && quantityValue(request) > quantityValue(limit)) {
      fail(
        `requests.${what} ${request} is more than limits.${what} ${limit}`,
        'lower the request or raise the limit (Kubernetes refuses a request above its limit)',
        'requests',
      );
    }
  }
});

// ---- container

/** IANA service name, as Kubernetes wants a port name: ≤ 15, lowercase, a letter somewhere, no "--". */
const PORT_NAME = /^(?=[-a-z0-9]{1,15}$)(?=[-0-9]*[a-z])[a-z0-9]+(?:-[a-z0-9]+)*$/;
const PORT = integer({ min: 1, max: 65535, fix: 'use a TCP port from 1 to 65535' });

const containerPort = object({
  containerPort: required(PORT, '8080 (the port the app listens on in the container)'),
  name: optional(
    string({
      fix: 'write at most 15 lowercase letters, digits and "-", with a letter, e.g. http',
      pattern: PORT_NAME,
      patternProblem: 'is not a port name',
      maxLength: 15,
    }),
  ),
  protocol: optional(oneOf(['TCP', 'UDP', 'SCTP'])),
});

const ports = refine(listOf(containerPort, 'write ports as a list, e.g. [{containerPort: 8080, name: http}]', 20), (list, fail) => {
  if (list.length === 0) fail('is empty', 'list the port the app serves on, e.g. [{containerPort: 8080}], or leave ports out for 8080');
  if ((list[0]!.protocol ?? 'TCP') !== 'TCP') fail('starts with a UDP or SCTP port; the first port is the one sluice sends HTTP to', 'put the HTTP port first');
  const seen = new Set<string>();
  for (const p of list) {
    const id = `${p.containerPort}/${p.protocol ?? 'TCP'}`;
    if (seen.has(id)) fail(`lists ${id} twice`, 'list each port once');
    seen.add(id);
  }
  const names = list.flatMap((p) => (p.name ? [p.name] : []));
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) fail(`names two ports ${twice}`, 'give each port its own name');
});

const ARG = text('write each argument as a string', LIMITS.envValueChars);
const commandList = refine(listOf(ARG, 'write the command as a list, e.g. [/app/server, --verbose]', LIMITS.envEntries), (v, fail) => {
  if (v.length === 0) fail('must not be empty', 'give the program and its arguments, or leave command out to run the image entrypoint');
});

const ENV_FROM_PREFIX = string({
  fix: 'write a prefix of letters, digits, "_", "-" and ".", e.g. DB_',
  pattern: /^[-._a-zA-Z][-._a-zA-Z0-9]*$/,
  patternProblem: 'is not an environment variable prefix',
  maxLength: 253,
});
const objectRef = (what: string) =>
  object({
    name: required(RESOURCE_NAME, `web-${what} (a ${what === 'config' ? 'ConfigMap' : 'Secret'} in the pod namespace)`),
    optional: optional(boolean('write true to start the pod even when it is missing')),
  });
const envFromSource = refine(
  object({ configMapRef: optional(objectRef('config')), secretRef: optional(objectRef('secrets')), prefix: optional(ENV_FROM_PREFIX) }),
  (v, fail) => {
    const set = (['configMapRef', 'secretRef'] as const).filter((k) => v[k] !== undefined);
    if (set.length !== 1) fail(set.length === 0 ? 'names no source' : 'sets both configMapRef and secretRef', 'set exactly one of configMapRef, secretRef');
  },
);

/** `template.container`: how the image runs. */
export const containerSettings: Decoder<ContainerSettings> = object({
  ports: optional(ports),
  resources: optional(resources),
  imagePullPolicy: optional(oneOf(['Always', 'IfNotPresent', 'Never'])),
  command: optional(commandList),
  args: optional(listOf(ARG, 'write args as a list, e.g. [--port, "8080"]', LIMITS.envEntries)),
  envFrom: optional(listOf(envFromSource, 'write envFrom as a list, e.g. [{configMapRef: {name: web-config}}]', 20)),
}) as unknown as Decoder<ContainerSettings>;

// ---- podTemplate

const podContainer = openObject({
  name: required(dnsLabel(), 'web (a lowercase DNS label)'),
  image: required(image, 'ghcr.io/acme/web:v2'),
  ports: optional(listOf(openObject({ containerPort: required(PORT, '8080') }), 'write ports as a list, e.g. [{containerPort: 8080}]', 20)),
  env: optional(
    refine(
      listOf(
        openObject({
          name: required(string({ fix: 'write the variable name', pattern: /^[^=\0]+$/, patternProblem: 'must be an environment variable name' }), 'NAME'),
        }),
        'write env as a list of {name, value}',
        LIMITS.envEntries,
      ),
      (list, fail) => {
        const names = list.map((e) => e.name);
        const twice = names.find((n, i) => names.indexOf(n) !== i);
        if (twice !== undefined) fail(`sets ${twice} twice`, 'keep one of them');
      },
    ),
  ),
});

/**
 * `template.podTemplate`: a Kubernetes PodTemplateSpec. sluice reads its metadata, the
 * containers' names, images, ports and env names, service account and node selector; the
 * rest goes to the cluster untouched. The first container is the app: it gets sluice's
 * env, probes and port.
 */
export const podTemplate: Decoder<PodTemplate> = object({
  metadata: optional(object({ labels: optional(podLabels()), annotations: optional(podAnnotations()) })),
  spec: required(
    openObject({
      containers: required(
        refine(listOf(podContainer, 'write containers as a list of {name, image, …}', 20), (list, fail) => {
          if (list.length === 0) fail('is empty', 'list the app container first, e.g. [{name: web, image: ghcr.io/acme/web:v2}]');
          const names = list.map((c) => c.name);
          const twice = names.find((n, i) => names.indexOf(n) !== i);
          if (twice !== undefined) fail(`names container ${twice} twice`, 'give each container its own name');
        }),
        '[{name: web, image: ghcr.io/acme/web:v2}]',
      ),
      serviceAccountName: optional(SERVICE_ACCOUNT),
      nodeSelector: optional(nodeSelector()),
    }),
    '{containers: [{name: web, image: ghcr.io/acme/web:v2}]}',
  ),
}) as Decoder<PodTemplate>;

/**
 * Where to point an error about `path` (keys from `node`): the value of the deepest key
 * present, so a missing field points at the mapping that should hold it, as object() does.
 */
export function failAt(node: Node, ctx: Ctx, path: readonly string[], problem: string, fix: string): never {
  let at: Node = node;
  let c = ctx;
  for (const key of path) {
    c = c.key(key);
    const pair = isMap(at) ? at.items.find((p) => isScalar(p.key) && p.key.value === key) : undefined;
    const value = pair?.value as Node | undefined;
    // `key:` with nothing has no position of its own: use the key's.
    if (pair) at = value && !(isScalar(value) && value.value === null) ? value : (pair.key as Node);
  }
  return c.fail(at, problem, fix);
}
