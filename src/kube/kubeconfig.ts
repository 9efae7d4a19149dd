/**
 * Where sluice finds a Kubernetes API server and how it signs in, the way kubectl does:
 * `--kubeconfig FILE` (else $KUBECONFIG, a `:`-separated list merged first-wins, else
 * ~/.kube/config), its current context (or `--context`), and inside a pod the service
 * account (`inCluster`). What is supported of a kubeconfig user: `token`, `tokenFile`,
 * `client-certificate(-data)` + `client-key(-data)`, and `exec` credential plugins
 * (client.authentication.k8s.io, run once per start; a token that expires is not yet
 * refreshed). `auth-provider` (removed from kubectl in 1.26) is refused with a line saying
 * so. Every problem is one line naming the file and the entry.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { UserError } from '../util/errors.js';
import type { KubeClientOptions } from './client.js';

/** A connection to one cluster, and the namespace the context names. */
export interface KubeConnection {
  client: KubeClientOptions;
  /** The context's namespace, else `default` (in a pod: the pod's own namespace). */
  namespace: string;
  /** Where it came from, for messages: `kubeconfig ~/.kube/config, context kind-dev` or `in-cluster service account`. */
  source: string;
}

export interface KubeconfigOptions {
  /** `--kubeconfig`; absent: $KUBECONFIG, then ~/.kube/config, then the in-cluster service account. */
  path?: string;
  /** `--context`; absent: the file's current-context. */
  context?: string;
  /** For tests: the environment to read KUBECONFIG and KUBERNETES_SERVICE_HOST from. */
  env?: NodeJS.ProcessEnv;
  /** For tests: the service-account folder (default /var/run/secrets/kubernetes.io/serviceaccount). */
  serviceAccountDir?: string;
}

interface RawFile {
  file: string;
  doc: Record<string, unknown>;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

function fail(where: string, problem: string, fix: string): never {
  throw new UserError(`${where}: ${problem} — ${fix}`, 'kubeconfig', 400);
}

function readYaml(file: string): RawFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    fail(`kubeconfig ${file}`, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'give an existing file with --kubeconfig');
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    fail(`kubeconfig ${file}`, `is not YAML (${(err as Error).message.split('\n')[0]})`, 'give the file kubectl uses');
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) fail(`kubeconfig ${file}`, 'is not a mapping', 'give the file kubectl uses');
  return { file, doc: doc as Record<string, unknown> };
}

/** Entries of `clusters`/`users`/`contexts` across the files, first file wins for a name. */
function entries<T>(files: RawFile[], list: string, inner: string): Map<string, { value: T; file: string }> {
  const out = new Map<string, { value: T; file: string }>();
  for (const f of files) {
    const items = f.doc[list];
    if (items === undefined || items === null) continue;
    if (!Array.isArray(items)) fail(`kubeconfig ${f.file}`, `${list} is not a list`, 'fix the file');
    for (const item of items as Record<string, unknown>[]) {
      const name = item?.name;
      if (typeof name !== 'string') fail(`kubeconfig ${f.file}`, `an entry of ${list} has no name`, 'fix the file');
      if (!out.has(name)) out.set(name, { value: (item[inner] ?? {}) as T, file: f.file });
    }
  }
  return out;
}

function fileOrData(base: string, entry: Record<string, unknown>, key: string, where: string): string | undefined {
  const data = entry[`${key}-data`];
  if (typeof data === 'string') return Buffer.from(data, 'base64').toString('utf8');
  const path = entry[key];
  if (typeof path !== 'string') return undefined;
  const full = isAbsolute(path) ? path : resolve(dirname(base), path);
  try {
    return readFileSync(full, 'utf8');
  } catch (err) {
    fail(where, `${key} ${full} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'fix the path in the kubeconfig');
  }
}

interface ExecConfig {
  command?: string;
  args?: string[];
  env?: { name: string; value: string }[] | null;
  apiVersion?: string;
}

function runExec(exec: ExecConfig, where: string, base: string): { token?: string; cert?: string; key?: string } {
  if (!exec.command) fail(where, 'exec has no command', 'fix the kubeconfig');
  const env = { ...process.env, ...Object.fromEntries((exec.env ?? []).map((e) => [e.name, e.value])) };
  env.KUBERNETES_EXEC_INFO = JSON.stringify({
    apiVersion: exec.apiVersion ?? 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential',
    spec: { interactive: false },
  });
  const command = exec.command.includes('/') && !isAbsolute(exec.command) ? resolve(dirname(base), exec.command) : exec.command;
  let out: string;
  try {
    out = execFileSync(command, exec.args ?? [], { env, encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { code?: string; stderr?: string; message: string };
    const why = e.code === 'ENOENT' ? `command not found: ${exec.command}` : (e.stderr?.trim().split('\n').pop() ?? e.message.split('\n')[0]);
    fail(where, `the exec credential plugin failed (${why})`, 'run it by hand to see why, or use a token');
  }
  let status: { token?: string; clientCertificateData?: string; clientKeyData?: string } | undefined;
  try {
    status = (JSON.parse(out) as { status?: typeof status }).status;
  } catch {
    fail(where, 'the exec credential plugin printed no ExecCredential JSON', 'check the plugin and its apiVersion');
  }
  if (!status?.token && !status?.clientCertificateData)
    fail(where, 'the exec credential plugin returned neither a token nor a client certificate', 'check the plugin');
  return { token: status.token, cert: status.clientCertificateData, key: status.clientKeyData };
}

/** The service account of the pod sluice runs in, when it runs in one. */
function inCluster(env: NodeJS.ProcessEnv, dir: string): KubeConnection | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host || !existsSync(join(dir, 'token'))) return undefined;
  const tokenFile = join(dir, 'token');
  const caFile = join(dir, 'ca.crt');
  const nsFile = join(dir, 'namespace');
  return {
    client: {
      server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
      // Bound service-account tokens rotate: the kubelet rewrites the file, so it is read again.
      token: tokenReader(tokenFile),
      ...(existsSync(caFile) ? { ca: readFileSync(caFile, 'utf8') } : {}),
    },
    namespace: existsSync(nsFile) ? readFileSync(nsFile, 'utf8').trim() : 'default',
    source: 'in-cluster service account',
  };
}

/** A token read from a file, again at most once a minute (kubectl's tokenFile, a rotated service-account token). */
function tokenReader(file: string): () => string {
  let cached = '';
  let readAt = 0;
  return () => {
    if (!cached || Date.now() - readAt > 60_000) {
      try {
        cached = readFileSync(file, 'utf8').trim();
        readAt = Date.now();
      } catch (err) {
        if (!cached)
          throw new UserError(`token file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'kubeconfig', 400);
      }
    }
    return cached;
  };
}

/** Reads the connection sluice uses for `--kubeconfig`/`--context`, as kubectl would. */
export function loadKubeconfig(options: KubeconfigOptions = {}): KubeConnection {
  const env = options.env ?? process.env;
  let paths: string[];
  if (options.path) paths = [options.path];
  else if (env.KUBECONFIG) paths = env.KUBECONFIG.split(':').filter((p) => p !== '' && existsSync(p));
  else paths = [join(homedir(), '.kube', 'config')].filter((p) => existsSync(p));
  if (paths.length === 0) {
    const pod = options.context === undefined ? inCluster(env, options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR) : undefined;
    if (pod) return pod;
    fail(
      'kubeconfig',
      `none found (${env.KUBECONFIG ? `KUBECONFIG=${env.KUBECONFIG}` : '~/.kube/config'} missing, not in a pod)`,
      'give one with --kubeconfig FILE',
    );
  }
  const files = paths.map(readYaml);
  const current = files.map((f) => f.doc['current-context']).find((c): c is string => typeof c === 'string' && c !== '');
  const contextName = options.context ?? current;
  const first = files[0]!.file;
  if (!contextName) fail(`kubeconfig ${first}`, 'has no current-context', 'name one with --context NAME');
  const contexts = entries<{ cluster?: string; user?: string; namespace?: string }>(files, 'contexts', 'context');
  const context = contexts.get(contextName);
  if (!context)
    fail(
      `kubeconfig ${first}`,
      `has no context ${JSON.stringify(contextName)} (it has ${[...contexts.keys()].join(', ') || 'none'})`,
      'name one of them with --context',
    );
  const where = `kubeconfig ${context.file}, context ${contextName}`;
  const cluster = context.value.cluster && entries<Record<string, unknown>>(files, 'clusters', 'cluster').get(context.value.cluster);
  if (!cluster) fail(where, `names cluster ${JSON.stringify(context.value.cluster ?? '')}, which the file does not define`, 'fix the context');
  const server = cluster.value.server;
  if (typeof server !== 'string' || !/^https?:\/\//.test(server))
    fail(where, `cluster ${context.value.cluster} has no https:// server`, 'fix the cluster entry');
  const user = context.value.user ? entries<Record<string, unknown>>(files, 'users', 'user').get(context.value.user) : undefined;
  if (context.value.user && !user) fail(where, `names user ${JSON.stringify(context.value.user)}, which the file does not define`, 'fix the context');
  const u = user?.value ?? {};
  const userWhere = `${where}, user ${context.value.user ?? ''}`;
  if (u['auth-provider']) fail(userWhere, 'uses auth-provider, which kubectl removed in 1.26', 'use the provider’s exec credential plugin instead');
  const client: KubeClientOptions = { server };
  const ca = fileOrData(cluster.file, cluster.value, 'certificate-authority', where);
  if (ca) client.ca = ca;
  if (cluster.value['insecure-skip-tls-verify'] === true) client.insecureSkipTlsVerify = true;
  if (typeof u.token === 'string') client.token = u.token;
  else if (typeof u.tokenFile === 'string') client.token = tokenReader(isAbsolute(u.tokenFile) ? u.tokenFile : resolve(dirname(user!.file), u.tokenFile));
  const cert = user ? fileOrData(user.file, u, 'client-certificate', userWhere) : undefined;
  const key = user ? fileOrData(user.file, u, 'client-key', userWhere) : undefined;
  if (cert && !key) fail(userWhere, 'has a client certificate but no client key', 'add client-key or client-key-data');
  if (cert && key) Object.assign(client, { cert, key });
  if (u.exec && typeof u.exec === 'object') {
    const got = runExec(u.exec as ExecConfig, userWhere, user!.file);
    if (got.token) client.token = got.token;
    if (got.cert && got.key) Object.assign(client, { cert: got.cert, key: got.key });
  }
  return { client, namespace: context.value.namespace || 'default', source: `kubeconfig ${context.file}, context ${contextName}` };
}
