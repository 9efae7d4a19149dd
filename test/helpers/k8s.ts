/**
 * A real Kubernetes control plane of the test's own, on 127.0.0.1: etcd, kube-apiserver,
 * kube-controller-manager and kube-scheduler built from the Kubernetes sources, and kwok
 * (sigs.k8s.io/kwok) playing the kubelet of one fake node, so that a Deployment's pods are
 * scheduled and go Running and Ready without a container runtime (no image is pulled; a pod's
 * IP comes from kwok's --cidr and nothing listens there).
 *
 * The programs are built once by `bash scripts/k8s-build.sh` into a cache folder keyed by their
 * versions (test/k8s/README.md). Without them `startCluster` throws with that command, and
 * `k8sMissing` skips the tests loudly on a developer machine and fails them in CI.
 *
 * Talk to the API with `cluster.request` (undici with the cluster's CA) or any client given
 * `kubeconfigPath`. Every program's output goes to a log file in `cluster.dir`; `logs()` shows
 * their tails, and a start that fails says which program and what it printed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, fetch } from 'undici';
import { isProcessAlive } from '../../src/util/process-control.js';
import { freePort } from './ports.js';
import { GiveUp, waitFor } from './wait.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const buildScript = join(repoRoot, 'scripts', 'k8s-build.sh');
const kwokStages = join(repoRoot, 'test', 'k8s', 'kwok', 'stages.yaml');
export const K8S_BUILD_COMMAND = 'bash scripts/k8s-build.sh';
const PROGRAMS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const;
type Program = (typeof PROGRAMS)[number];

/** The versions scripts/k8s-build.sh builds, read from its top lines (one source of truth). */
export function k8sVersions(): { kubernetes: string; etcd: string; kwok: string } {
  const script = readFileSync(buildScript, 'utf8');
  const get = (name: string) => {
    const m = new RegExp(`^${name}=(\\S+)$`, 'm').exec(script);
    if (!m?.[1]) throw new Error(`${buildScript} has no ${name}= line`);
    return m[1];
  };
  return { kubernetes: get('K8S_VERSION'), etcd: get('ETCD_VERSION'), kwok: get('KWOK_VERSION') };
}

/** Where the built programs are: $SLUICE_K8S_BIN, else the build script's cache folder. */
export function k8sBinDir(): string {
  if (process.env.SLUICE_K8S_BIN) return process.env.SLUICE_K8S_BIN;
  const v = k8sVersions();
  const cache = process.env.SLUICE_K8S_CACHE || join(homedir(), '.cache', 'sluice-k8s');
  return join(cache, `${v.kubernetes}-${v.etcd}-${v.kwok}`, 'bin');
}

function missingPrograms(bin: string): string[] {
  return PROGRAMS.filter((p) => !existsSync(join(bin, p)));
}

/**
 * Whether the Kubernetes tests can run. Without the built programs they are skipped with a
 * loud message on a developer machine, and fail in CI (CI is set).
 */
export function k8sMissing(): string | false {
  const bin = k8sBinDir();
  const missing = missingPrograms(bin);
  if (missing.length === 0) return false;
  const message = `the Kubernetes programs are not built (${missing.join(', ')} missing in ${bin}): run ${K8S_BUILD_COMMAND} (about 15 minutes the first time on two cores)`;
  if (process.env.CI) throw new Error(`${message}; CI must run the Kubernetes tests`);
  console.error(`\n*** SKIPPED: ${message}\n`);
  return message;
}

export interface K8sResponse<T = unknown> {
  status: number;
  /** The parsed JSON body (a Status object on most errors), or the text when it is not JSON. */
  body: T;
}

export interface K8sCluster {
  /** https://127.0.0.1:PORT */
  server: string;
  /** Bearer token of `admin`, in group system:masters. */
  token: string;
  /** Bearer token of `limited`, a user with no role bound (only what system:authenticated gets). */
  limitedToken: string;
  limitedUser: string;
  /** The CA that signed the API server's certificate (the API server generates both in --cert-dir). */
  caFile: string;
  /** A kubeconfig for `admin` (what the controller manager, the scheduler and kwok use). */
  kubeconfigPath: string;
  /** The fake node kwok keeps Ready. */
  nodeName: string;
  /** Temporary folder with etcd's data, the certificates, the keys and every program's log. */
  dir: string;
  /** The pid of each program started. */
  pids: Record<Program, number>;
  /** One API call: JSON in and out, as `admin` unless another token is given. */
  request<T = unknown>(method: string, path: string, body?: unknown, opts?: { token?: string; contentType?: string }): Promise<K8sResponse<T>>;
  /** The last lines every program printed. */
  logs(): string;
  /** Stops every program (TERM, then KILL after 20 s), waits for each to exit, removes `dir`. */
  stop(): Promise<void>;
}

interface Running {
  name: Program;
  child: ChildProcess;
  log: string;
  exited: Promise<void>;
}

function tail(file: string, chars = 3000): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.length > chars ? `…${text.slice(-chars)}` : text;
  } catch {
    return '(no log)';
  }
}

function launch(name: Program, bin: string, args: string[], dir: string, env?: NodeJS.ProcessEnv): Running {
  const log = join(dir, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(join(bin, name), args, { stdio: ['ignore', fd, fd], env: env ?? process.env });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  child.once('error', () => {}); // a spawn failure also ends in 'exit' / shows in exitCode
  return { name, child, log, exited };
}

async function terminate(r: Running): Promise<void> {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return;
  r.child.kill('SIGTERM');
  const timer = setTimeout(() => r.child.kill('SIGKILL'), 20_000);
  await r.exited;
  clearTimeout(timer);
}

function assertAlive(r: Running): void {
  if (r.child.exitCode !== null || r.child.signalCode !== null) {
    throw new GiveUp(`${r.name} exited (${r.child.exitCode ?? r.child.signalCode}):\n${tail(r.log)}`);
  }
}

/** Pids of live processes whose command line mentions `text` (a cluster's folder). */
export function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes(text) && isProcessAlive(pid)) found.push(pid);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** The executable a pid runs, for messages ("/…/bin/kube-apiserver"). */
export function processExe(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '?';
  }
}

const token = () => randomBytes(24).toString('hex');

/**
 * Starts the control plane and one kwok node, and returns when the API server answers
 * /readyz, the node is Ready, and the controller manager has made the `default` namespace's
 * service account. About 20–40 s on two cores.
 */
export async function startCluster(opts: { startTimeoutMs?: number } = {}): Promise<K8sCluster> {
  const bin = k8sBinDir();
  const missing = missingPrograms(bin);
  if (missing.length > 0) {
    throw new Error(`startCluster: ${missing.join(', ')} not built in ${bin}; build them with: ${K8S_BUILD_COMMAND}`);
  }
  const timeoutMs = opts.startTimeoutMs ?? 120_000;
  const dir = mkdtempSync(join(tmpdir(), 'sluice-k8s-'));
  const running: Running[] = [];
  let caAgent: Agent | undefined;
  let stopped = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const r of [...running].reverse()) await terminate(r);
    await caAgent?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  const logs = () => running.map((r) => `--- ${r.name} (${r.log})\n${tail(r.log, 1500)}`).join('\n');

  try {
    const [etcdClient, etcdPeer, apiPort, kcmPort, schedulerPort, kwokPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];

    // etcd: one member, loopback only, no fsync (the data dies with the test).
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    const etcd = launch(
      'etcd',
      bin,
      [
        '--name=sluice-test',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=sluice-test=${peerUrl}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      dir,
    );
    running.push(etcd);
    await waitFor(
      async () => {
        assertAlive(etcd);
        const res = await fetch(`${etcdUrl}/health`);
        const body = (await res.json()) as { health?: string };
        return body.health === 'true';
      },
      { what: 'etcd /health', timeoutMs, intervalMs: 200, detail: () => tail(etcd.log) },
    );

    // Credentials: a static token file (admin in system:masters, a limited user), and the
    // key pair that signs and checks service-account tokens.
    const adminToken = token();
    const limitedToken = token();
    const limitedUser = 'limited';
    const tokenFile = join(dir, 'tokens.csv');
    writeFileSync(tokenFile, `${adminToken},admin,admin-uid,"system:masters"\n${limitedToken},${limitedUser},limited-uid\n`, { mode: 0o600 });
    const keys = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    const saKey = join(dir, 'sa.key');
    const saPub = join(dir, 'sa.pub');
    writeFileSync(saKey, keys.privateKey, { mode: 0o600 });
    writeFileSync(saPub, keys.publicKey);

    const certDir = join(dir, 'certs');
    const apiserver = launch(
      'kube-apiserver',
      bin,
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${certDir}`,
        `--token-auth-file=${tokenFile}`,
        '--authorization-mode=RBAC',
        '--anonymous-auth=false',
        '--service-cluster-ip-range=10.96.0.0/16',
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        '--endpoint-reconciler-type=none',
        '--v=1',
      ],
      dir,
    );
    running.push(apiserver);
    const server = `https://127.0.0.1:${apiPort}`;
    // The API server writes a CA and its certificate (chain: server cert, then CA) into
    // --cert-dir before it serves; the CA alone is what clients trust.
    const caFile = join(dir, 'ca.crt');
    await waitFor(
      () => {
        assertAlive(apiserver);
        const chain = join(certDir, 'apiserver.crt');
        if (!existsSync(chain)) return false;
        const pems = readFileSync(chain, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
        const ca = pems[pems.length - 1];
        if (pems.length < 2 || !ca) return false;
        writeFileSync(caFile, `${ca}\n`);
        return true;
      },
      { what: 'kube-apiserver certificates in --cert-dir', timeoutMs, detail: () => tail(apiserver.log) },
    );
    caAgent = new Agent({ connect: { ca: readFileSync(caFile, 'utf8') } });
    const dispatcher = caAgent;

    const request = async <T = unknown>(
      method: string,
      path: string,
      body?: unknown,
      o: { token?: string; contentType?: string } = {},
    ): Promise<K8sResponse<T>> => {
      const res = await fetch(`${server}${path}`, {
        method,
        dispatcher,
        headers: {
          authorization: `Bearer ${o.token ?? adminToken}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': o.contentType ?? 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON (healthz answers "ok")
      }
      return { status: res.status, body: parsed as T };
    };

    await waitFor(
      async () => {
        assertAlive(apiserver);
        const r = await request('GET', '/readyz');
        return r.status === 200;
      },
      { what: 'kube-apiserver /readyz', timeoutMs, intervalMs: 250, detail: () => tail(apiserver.log) },
    );

    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfigPath,
      JSON.stringify(
        {
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'sluice-test', cluster: { server, 'certificate-authority': caFile } }],
          users: [{ name: 'admin', user: { token: adminToken } }],
          contexts: [{ name: 'sluice-test', context: { cluster: 'sluice-test', user: 'admin' } }],
          'current-context': 'sluice-test',
        },
        null,
        2,
      ),
      { mode: 0o600 },
    );

    const kcm = launch(
      'kube-controller-manager',
      bin,
      [
        `--kubeconfig=${kubeconfigPath}`,
        `--authentication-kubeconfig=${kubeconfigPath}`,
        `--authorization-kubeconfig=${kubeconfigPath}`,
        // No client certificates here, so the API server publishes no
        // extension-apiserver-authentication ConfigMap: do not look for it (it logs every 5 s).
        '--authentication-skip-lookup',
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        `--cert-dir=${join(dir, 'kcm-certs')}`,
        '--controllers=*',
        '--leader-elect=false',
        '--use-service-account-credentials',
        `--service-account-private-key-file=${saKey}`,
        `--root-ca-file=${caFile}`,
        '--service-cluster-ip-range=10.96.0.0/16',
        '--v=1',
      ],
      dir,
    );
    running.push(kcm);
    const scheduler = launch(
      'kube-scheduler',
      bin,
      [
        `--kubeconfig=${kubeconfigPath}`,
        `--authentication-kubeconfig=${kubeconfigPath}`,
        `--authorization-kubeconfig=${kubeconfigPath}`,
        // No client certificates here, so the API server publishes no
        // extension-apiserver-authentication ConfigMap: do not look for it (it logs every 5 s).
        '--authentication-skip-lookup',
        '--bind-address=127.0.0.1',
        `--secure-port=${schedulerPort}`,
        `--cert-dir=${join(dir, 'scheduler-certs')}`,
        '--leader-elect=false',
        '--v=1',
      ],
      dir,
    );
    running.push(scheduler);
    // kwok with its default stages (test/k8s/kwok/stages.yaml), managing only nodes annotated
    // kwok.x-k8s.io/node=fake. HOME is the cluster's folder so no ~/.kwok/kwok.yaml is read.
    const kwok = launch(
      'kwok',
      bin,
      [
        `--kubeconfig=${kubeconfigPath}`,
        `--config=${kwokStages}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        `--server-address=127.0.0.1:${kwokPort}`,
        '--node-ip=127.0.0.1',
        '--cidr=10.244.0.0/24',
      ],
      dir,
      { ...process.env, HOME: dir },
    );
    running.push(kwok);

    const nodeName = 'kwok-node-0';
    const capacity = { cpu: '32', memory: '256Gi', pods: '110' };
    await waitFor(
      async () => {
        assertAlive(kwok);
        const r = await request('POST', '/api/v1/nodes', {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: {
            name: nodeName,
            annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
            labels: { type: 'kwok', 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
          },
          status: { capacity, allocatable: capacity, nodeInfo: { architecture: 'amd64', operatingSystem: 'linux', kubeletVersion: 'fake' } },
        });
        if (r.status !== 201 && r.status !== 409) throw new Error(`POST node: ${r.status} ${JSON.stringify(r.body)}`);
        return true;
      },
      { what: 'the fake node created', timeoutMs, detail: logs },
    );
    type Node = { status?: { conditions?: { type: string; status: string }[] } };
    await waitFor(
      async () => {
        for (const r of running) assertAlive(r);
        const node = await request<Node>('GET', `/api/v1/nodes/${nodeName}`);
        return node.body.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      },
      { what: `node ${nodeName} Ready (kwok)`, timeoutMs, intervalMs: 250, detail: logs },
    );
    await waitFor(
      async () => {
        for (const r of running) assertAlive(r);
        return (await request('GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200;
      },
      { what: 'service account default/default (kube-controller-manager)', timeoutMs, intervalMs: 250, detail: logs },
    );
    // The scheduler answers /healthz on its own self-signed port once it runs; checked over
    // loopback without verifying its throwaway certificate.
    const insecure = new Agent({ connect: { rejectUnauthorized: false } });
    try {
      await waitFor(
        async () => {
          assertAlive(scheduler);
          const res = await fetch(`https://127.0.0.1:${schedulerPort}/healthz`, { dispatcher: insecure });
          return res.status === 200;
        },
        { what: 'kube-scheduler /healthz', timeoutMs, intervalMs: 250, detail: () => tail(scheduler.log) },
      );
    } finally {
      await insecure.close();
    }

    const pids = Object.fromEntries(running.map((r) => [r.name, r.child.pid ?? -1])) as Record<Program, number>;
    return {
      server,
      token: adminToken,
      limitedToken,
      limitedUser,
      caFile,
      kubeconfigPath,
      nodeName,
      dir,
      pids,
      request,
      logs,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Polls until `check` holds, failing with the cluster's logs (a wrapper of waitFor). */
export async function waitK8s<T>(cluster: K8sCluster, what: string, check: () => T | Promise<T>, timeoutMs = 90_000) {
  return waitFor(check, { what, timeoutMs, intervalMs: 250, detail: cluster.logs });
}

// ---- Official CRDs (scripts/k8s-crds.sh) and server-side apply ----

const crdScript = join(repoRoot, 'scripts', 'k8s-crds.sh');
export const K8S_CRDS_COMMAND = 'bash scripts/k8s-crds.sh';

/** The CRD versions scripts/k8s-crds.sh fetches, read from its top lines. */
export function k8sCrdVersions(): { gatewayApi: string; istioApi: string } {
  const script = readFileSync(crdScript, 'utf8');
  const get = (name: string) => new RegExp(`^${name}=(\\S+)$`, 'm').exec(script)?.[1] ?? '';
  return { gatewayApi: get('GATEWAY_API_VERSION'), istioApi: get('ISTIO_API_VERSION') };
}

/** The files scripts/k8s-crds.sh leaves in the cache: Gateway API's standard channel and Istio's API CRDs. */
export function k8sCrdFiles(): { gatewayApi: string[]; istio: string[] } {
  const v = k8sCrdVersions();
  const cache = join(process.env.SLUICE_K8S_CACHE || join(homedir(), '.cache', 'sluice-k8s'), 'crds');
  const standard = join(cache, `gateway-api-${v.gatewayApi}`, 'standard');
  const istio = join(cache, `istio-api-${v.istioApi}`, 'customresourcedefinitions.gen.yaml');
  return {
    gatewayApi: existsSync(standard)
      ? readdirSync(standard)
          .filter((f) => f.endsWith('.yaml'))
          .sort()
          .map((f) => join(standard, f))
      : [],
    istio: existsSync(istio) ? [istio] : [],
  };
}

/** Like k8sMissing, for the CRDs: skipped loudly without them on a developer machine, a failure in CI. */
export function k8sCrdsMissing(): string | false {
  const files = k8sCrdFiles();
  if (files.gatewayApi.length > 0 && files.istio.length > 0) return false;
  const message = `the Gateway API and Istio CRDs are not in the cache: run ${K8S_CRDS_COMMAND}`;
  if (process.env.CI) throw new Error(`${message}; CI must run the Kubernetes tests`);
  console.error(`\n*** SKIPPED: ${message}\n`);
  return message;
}

interface Crd {
  metadata: { name: string };
  status?: { conditions?: { type: string; status: string }[] };
}

/** Creates CustomResourceDefinitions and waits until every one is Established (served). */
export async function installCrds(cluster: K8sCluster, crds: Crd[]): Promise<void> {
  for (const crd of crds) {
    const r = await cluster.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    if (r.status !== 201) throw new Error(`CRD ${crd.metadata.name}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  for (const crd of crds) {
    await waitK8s(cluster, `CRD ${crd.metadata.name} Established`, async () => {
      const r = await cluster.request<Crd>('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
      return r.body.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
    });
  }
}

/** The API path of a namespaced object (`plural` its resource: services, httproutes, …). */
export function objectPath(o: { apiVersion: string; metadata: { name?: string; namespace?: string } }, plural: string, named = true): string {
  const base = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
  const ns = o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : '';
  return `${base}${ns}/${plural}${named && o.metadata.name ? `/${o.metadata.name}` : ''}`;
}

/** Server-side apply (field manager `sluice`, force, strict field validation): 200 or 201 when accepted. */
export function applyObject<T = unknown>(
  cluster: K8sCluster,
  o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } },
  plural: string,
): Promise<K8sResponse<T>> {
  // JSON is YAML: apply-patch+yaml takes the object as JSON.
  return cluster.request<T>('PATCH', `${objectPath(o, plural)}?fieldManager=sluice&force=true&fieldValidation=Strict`, o, {
    contentType: 'application/apply-patch+yaml',
  });
}
