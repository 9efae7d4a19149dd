import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTableError, validateRouteTable } from '../../src/router/validate.js';
import type { ListenerRoutes } from '../../src/core/route-table.js';

function withListener(extra: Record<string, unknown>): unknown {
  const l: ListenerRoutes = {
    listen: '127.0.0.1:8080',
    rollout: 'web',
    role: 'main',
    balancer: 'round-robin',
    rules: [],
    split: [{ revision: 1, weight: 100 }],
    backends: [{ revision: 1, version: 'v1', endpoints: [{ id: 'a', host: '127.0.0.1', port: 9000 }] }],
  };
  return { generation: 1, listeners: [{ ...l, ...extra }] };
}

function refused(extra: Record<string, unknown>, message: RegExp): void {
  assert.throws(
    () => validateRouteTable(withListener(extra)),
    (e: unknown) => {
      assert.ok(e instanceof RouteTableError);
      assert.equal(e.status, 400);
      assert.match(e.message, message);
      assert.doesNotMatch(e.message, /\n/, 'one line');
      return true;
    },
  );
}

test('a complete resilience section and both holds are accepted', () => {
  validateRouteTable(
    withListener({
      resilience: {
        outlier: { consecutiveFailures: 5, baseEjectionMs: 30000, maxEjectedPercent: 50 },
        limits: { maxConnections: 100, maxPending: 0, queueTimeoutMs: 1000 },
        timeouts: { connectMs: 1000, responseMs: 30000 },
        bufferRequests: { maxBytes: 1048576 },
      },
      hold: { mode: 'paused', pauseTimeoutMs: 5000 },
    }),
  );
  validateRouteTable(withListener({ resilience: {}, hold: { mode: 'stopped' } }));
  validateRouteTable(withListener({ resilience: { timeouts: { responseMs: 100 } } }));
});

test('bad resilience settings are refused with their path, the problem and what to write', () => {
  refused({ resilience: 5 }, /^route table listeners\[0\]\.resilience: must be an object with any of outlier, limits, timeouts, bufferRequests$/);
  refused({ resilience: { outliers: {} } }, /listeners\[0\]\.resilience\.outliers: is not a resilience setting; use outlier, limits/);
  refused({ resilience: { outlier: true } }, /resilience\.outlier: must be an object \{consecutiveFailures, baseEjectionMs, maxEjectedPercent\}/);
  refused(
    { resilience: { outlier: { consecutiveFailures: 0, baseEjectionMs: 1000, maxEjectedPercent: 10 } } },
    /resilience\.outlier\.consecutiveFailures: 0 must be a whole number ≥ 1 \(failures in a row that eject an instance, e\.g\. 5\)/,
  );
  refused(
    { resilience: { outlier: { consecutiveFailures: 3, maxEjectedPercent: 10 } } },
    /resilience\.outlier\.baseEjectionMs: undefined must be a whole number ≥ 1/,
  );
  refused(
    { resilience: { outlier: { consecutiveFailures: 3, baseEjectionMs: 1000, maxEjectedPercent: 150 } } },
    /resilience\.outlier\.maxEjectedPercent: 150 must be a number in 0\.\.100/,
  );
  refused(
    { resilience: { limits: { maxConnections: 1.5, maxPending: 1, queueTimeoutMs: 10 } } },
    /resilience\.limits\.maxConnections: 1\.5 must be a whole number ≥ 1/,
  );
  refused(
    { resilience: { limits: { maxConnections: 1, maxPending: -1, queueTimeoutMs: 10 } } },
    /resilience\.limits\.maxPending: -1 must be a whole number ≥ 0/,
  );
  refused(
    { resilience: { limits: { maxConnections: 1, maxPending: 1, queueTimeoutMs: '10' } } },
    /resilience\.limits\.queueTimeoutMs: "10" must be a whole number ≥ 1/,
  );
  refused({ resilience: { timeouts: { connectMs: 0 } } }, /resilience\.timeouts\.connectMs: 0 must be a whole number ≥ 1/);
  refused({ resilience: { timeouts: { readMs: 10 } } }, /resilience\.timeouts\.readMs: is not a timeout; use connectMs or responseMs/);
  refused({ resilience: { bufferRequests: { maxBytes: 0 } } }, /resilience\.bufferRequests\.maxBytes: 0 must be a whole number ≥ 1/);
});

test('a bad hold is refused', () => {
  refused({ hold: 'paused' }, /listeners\[0\]\.hold: must be an object \{mode: 'stopped' \| 'paused', pauseTimeoutMs\?\}; omit it to serve/);
  refused({ hold: { mode: 'pause' } }, /listeners\[0\]\.hold\.mode: "pause" must be 'stopped' \(maintenance answer\) or 'paused' \(requests wait\)/);
  refused({ hold: { mode: 'paused', pauseTimeoutMs: 0 } }, /hold\.pauseTimeoutMs: 0 must be a whole number ≥ 1/);
  refused({ hold: { mode: 'stopped', pauseTimeoutMs: 100 } }, /hold\.pauseTimeoutMs: only applies to mode 'paused'; remove it/);
});
