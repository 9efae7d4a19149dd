import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { loadKubeconfig } from '../../src/kube/kubeconfig.js';
import { UserError } from '../../src/util/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-kubeconfig-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(doc: unknown, name = `config-${++n}`): string {
  const path = join(dir, name);
  writeFileSync(path, typeof doc === 'string' ? doc : stringify(doc));
  return path;
}

function config(user: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'dev',
    contexts: [{ name: 'dev', context: { cluster: 'c1', user: 'u1', namespace: 'shop' } }],
    clusters: [{ name: 'c1', cluster: { server: 'https://10.0.0.1:6443', 'certificate-authority-data': Buffer.from('CA PEM').toString('base64') } }],
    users: [{ name: 'u1', user }],
    ...extra,
  };
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UserError, `not a UserError: ${err}`);
    assert.doesNotMatch(err.message, /\n/);
    return err.message;
  }
  assert.fail('was not refused');
}

describe('loadKubeconfig', () => {
  it('reads the current context: server, CA data, token and namespace', () => {
    const c = loadKubeconfig({ path: file(config({ token: 'abc' })), env: {} });
    assert.equal(c.client.server, 'https://10.0.0.1:6443');
    assert.equal(c.client.ca, 'CA PEM');
    assert.equal(c.client.token, 'abc');
    assert.equal(c.namespace, 'shop');
    assert.match(c.source, /context dev$/);
  });

  it('reads files relative to the kubeconfig, client certificates, tokenFile and --context', () => {
    writeFileSync(join(dir, 'ca.crt'), 'CA FROM FILE');
    writeFileSync(join(dir, 'tok'), 'from-file\n');
    const path = file(
      config(
        { 'client-certificate-data': Buffer.from('CERT').toString('base64'), 'client-key-data': Buffer.from('KEY').toString('base64') },
        {
          contexts: [
            { name: 'dev', context: { cluster: 'c1', user: 'u1' } },
            { name: 'ops', context: { cluster: 'c2', user: 'u2' } },
          ],
          clusters: [
            { name: 'c1', cluster: { server: 'https://10.0.0.1:6443' } },
            { name: 'c2', cluster: { server: 'https://10.0.0.2:6443', 'certificate-authority': 'ca.crt', 'insecure-skip-tls-verify': true } },
          ],
          users: [
            {
              name: 'u1',
              user: { 'client-certificate-data': Buffer.from('CERT').toString('base64'), 'client-key-data': Buffer.from('KEY').toString('base64') },
            },
            { name: 'u2', user: { tokenFile: 'tok' } },
          ],
        },
      ),
    );
    const dev = loadKubeconfig({ path, env: {} });
    assert.equal(dev.client.cert, 'CERT');
    assert.equal(dev.client.key, 'KEY');
    assert.equal(dev.client.token, undefined);
    assert.equal(dev.namespace, 'default');
    const ops = loadKubeconfig({ path, context: 'ops', env: {} });
    assert.equal(ops.client.ca, 'CA FROM FILE');
    assert.equal(ops.client.insecureSkipTlsVerify, true);
    assert.equal(typeof ops.client.token, 'function');
    assert.equal((ops.client.token as () => string)(), 'from-file');
  });

  it('merges $KUBECONFIG files, the first one winning', () => {
    const a = file({ 'current-context': 'dev', users: [{ name: 'u1', user: { token: 'first' } }] });
    const b = file(config({ token: 'second' }));
    const c = loadKubeconfig({ env: { KUBECONFIG: `${a}:${join(dir, 'absent')}:${b}` } });
    assert.equal(c.client.token, 'first');
    assert.equal(c.client.server, 'https://10.0.0.1:6443');
  });

  it('runs an exec credential plugin (a real process) and uses its token', () => {
    const plugin = join(dir, 'plugin.mjs');
    writeFileSync(
      plugin,
      `#!/usr/bin/env node\nconst info = JSON.parse(process.env.KUBERNETES_EXEC_INFO);\nconsole.log(JSON.stringify({ apiVersion: info.apiVersion, kind: 'ExecCredential', status: { token: 'exec-' + process.env.WHO } }));\n`,
    );
    chmodSync(plugin, 0o755);
    const c = loadKubeconfig({
      path: file(config({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, env: [{ name: 'WHO', value: 'ci' }] } })),
      env: {},
    });
    assert.equal(c.client.token, 'exec-ci');
    const broken = refusal(() => loadKubeconfig({ path: file(config({ exec: { command: 'no-such-plugin-xyz' } })), env: {} }));
    assert.match(broken, /exec credential plugin failed \(command not found: no-such-plugin-xyz\)/);
  });

  it('uses the pod’s service account when there is no kubeconfig and it runs in a pod', () => {
    const sa = mkdtempSync(join(dir, 'sa-'));
    writeFileSync(join(sa, 'token'), 'sa-token');
    writeFileSync(join(sa, 'ca.crt'), 'SA CA');
    writeFileSync(join(sa, 'namespace'), 'prod\n');
    const c = loadKubeconfig({ env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', HOME: dir }, serviceAccountDir: sa });
    assert.equal(c.client.server, 'https://10.96.0.1:443');
    assert.equal((c.client.token as () => string)(), 'sa-token');
    assert.equal(c.namespace, 'prod');
    assert.equal(c.source, 'in-cluster service account');
  });

  it('refuses what it cannot use with one line naming the file and entry', () => {
    assert.match(
      refusal(() => loadKubeconfig({ path: join(dir, 'missing'), env: {} })),
      /kubeconfig .*missing: cannot be read \(ENOENT\)/,
    );
    assert.match(
      refusal(() => loadKubeconfig({ path: file('a: [unclosed'), env: {} })),
      /is not YAML/,
    );
    assert.match(
      refusal(() => loadKubeconfig({ path: file(config({ token: 'x' })), context: 'prod', env: {} })),
      /has no context "prod" \(it has dev\)/,
    );
    assert.match(
      refusal(() => loadKubeconfig({ path: file(config({ 'auth-provider': { name: 'gcp' } })), env: {} })),
      /context dev, user u1: uses auth-provider/,
    );
    assert.match(
      refusal(() => loadKubeconfig({ path: file(config({ 'client-certificate-data': 'Q0VSVA==' })), env: {} })),
      /has a client certificate but no client key/,
    );
    assert.match(
      refusal(() => loadKubeconfig({ path: file(config({ 'client-certificate': 'nope.crt', 'client-key-data': 'S0VZ' })), env: {} })),
      /client-certificate .*nope\.crt cannot be read/,
    );
  });

  it('never throws anything but a one-line UserError on arbitrary documents', () => {
    const scalar = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null));
    const value = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        scalar,
        fc.array(tie('v'), { maxLength: 3 }),
        fc.dictionary(fc.constantFrom('name', 'cluster', 'user', 'context', 'server', 'token', 'namespace', 'x'), tie('v'), { maxKeys: 4 }),
      ),
    })).v;
    const doc = fc.record({ 'current-context': fc.oneof(fc.constant('dev'), scalar), contexts: value, clusters: value, users: value }, { requiredKeys: [] });
    fc.assert(
      fc.property(doc, (d) => {
        const path = file(d, 'fuzz');
        try {
          const c = loadKubeconfig({ path, env: {} });
          assert.match(c.client.server, /^https?:\/\//);
        } catch (err) {
          assert.ok(err instanceof UserError, `not a UserError: ${(err as Error)?.stack}`);
          assert.doesNotMatch(err.message, /\n/);
        }
      }),
      { numRuns: 300 },
    );
  });
});
