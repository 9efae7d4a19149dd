import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DATA_PLANES, dataPlaneNamed } from '../../src/dataplane/registry.js';
import { DataPlanes } from '../../src/dataplane/planes.js';
import type { DataPlaneAdapter } from '../../src/dataplane/adapter.js';
import type { HttpTrafficRouter } from '../../src/router/http-client.js';
import type { ListenerRoutes, RouteTable } from '../../src/core/route-table.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { DEFAULT_NGINX_SETTINGS } from '../../src/dataplane/nginx/settings.js';

test('the registry names each data plane once; the builtin router is one of them and is not opened by the registry', () => {
  const names = DATA_PLANES.map((p) => p.name);
  assert.deepEqual([...new Set(names)], names);
  assert.equal(dataPlaneNamed(undefined)?.name, 'builtin');
  assert.equal(dataPlaneNamed('builtin')?.open, undefined);
  assert.equal(dataPlaneNamed('nginx')?.comparesMirrors, false);
  assert.equal(dataPlaneNamed('envoy'), undefined);
});

const listener = (rollout: string, dataPlane?: string): ListenerRoutes => ({
  listen: `127.0.0.1:${8000 + rollout.length}`,
  rollout,
  role: 'main',
  split: [{ revision: 1, weight: 100 }],
  backends: [],
  balancer: 'round-robin',
  rules: [],
  ...(dataPlane ? { dataPlane, dataPlaneSettings: { plane: dataPlane } } : {}),
});

/** Records the parts it is given; answers windows with its own name so the test sees who answered. */
function recordingPlane(name: string): DataPlaneAdapter & { parts: ListenerRoutes[][] } {
  const parts: ListenerRoutes[][] = [];
  return {
    parts,
    apply: async (_g, listeners) => void parts.push(listeners),
    knows: () => false,
    waitIdle: async () => true,
    traffic: () => [],
    window: (rollout, revision) => ({ rollout: `${rollout}@${name}`, revision }) as never,
    samples: () => ({ latencies: [], errors: [], truncated: false }),
    shutdown: async () => undefined,
    close: () => undefined,
  };
}

test('DataPlanes gives each registered plane exactly its listeners (an empty part too) and asks the plane that serves a rollout for its windows', async () => {
  const builtinParts: RouteTable[] = [];
  const builtin = {
    apply: async (t: RouteTable) => (builtinParts.push(t), { failed: [] }),
    window: async (rollout: string, revision: number) => ({ rollout: `${rollout}@builtin`, revision }),
  } as unknown as HttpTrafficRouter;
  const gateway = recordingPlane('gateway');
  const planes = new DataPlanes(builtin, new Map([['gateway', gateway]]));
  await planes.apply({ generation: 4, listeners: [listener('a'), listener('bb', 'gateway'), listener('ccc')] });
  assert.deepEqual(
    builtinParts[0].listeners.map((l) => l.rollout),
    ['a', 'ccc'],
  );
  assert.equal(builtinParts[0].generation, 4);
  assert.deepEqual(
    gateway.parts[0].map((l) => [l.rollout, l.dataPlaneSettings]),
    [['bb', { plane: 'gateway' }]],
  );
  assert.equal((await planes.window('bb', 1, 0)).rollout, 'bb@gateway');
  assert.equal((await planes.window('a', 1, 0)).rollout, 'a@builtin');
  await planes.apply({ generation: 5, listeners: [listener('a')] });
  assert.deepEqual(gateway.parts[1], [], 'a plane no rollout names any more is told to serve nothing');
  assert.equal((await planes.window('bb', 1, 0)).rollout, 'bb@builtin');
  await assert.rejects(planes.apply({ generation: 6, listeners: [listener('a', 'istio')] }), /names data plane "istio", which this control plane does not run/);
  assert.equal(builtinParts.length, 2, 'a table naming an unknown plane is refused before any plane sees it');
});

test('a spec and a route table stored before data-plane settings were opaque load with dataPlaneSettings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-registry-'));
  try {
    const path = join(dir, 'sluice.db');
    new SqliteStore(path).close();
    const db = new Database(path);
    const spec = { name: 'web', traffic: { listen: '127.0.0.1:8080', router: 'nginx', nginx: { ...DEFAULT_NGINX_SETTINGS, manage: false } } };
    db.prepare("INSERT INTO rollouts (name, spec, spec_format, source, status, status_format, created_at) VALUES ('web', ?, 1, 'yaml', '{}', 1, 5)").run(
      JSON.stringify(spec),
    );
    const table = { generation: 3, listeners: [{ ...listener('web'), dataPlane: 'nginx', nginx: { manage: false } }] };
    db.prepare("INSERT OR REPLACE INTO kv (key, value) VALUES ('routeTable', ?)").run(JSON.stringify(table));
    db.close();
    const store = new SqliteStore(path);
    const traffic = store.getRollout('web')!.spec.traffic;
    assert.equal(traffic.router, 'nginx');
    assert.deepEqual(traffic.dataPlaneSettings, { ...DEFAULT_NGINX_SETTINGS, manage: false });
    assert.equal('nginx' in traffic, false);
    const loaded = store.loadRouteTable()!.listeners[0];
    assert.deepEqual(loaded.dataPlaneSettings, { manage: false });
    assert.equal('nginx' in loaded, false);
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
