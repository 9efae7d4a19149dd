#!/usr/bin/env node
// Simulated shoppers for an A/B test of the demo app (examples/ab-test.yaml), through
// sluice's router: each shopper keeps its own cookies (the router's signed user cookie),
// opens GET /shop, and checks out (POST /checkout) with the chance the page it got says
// (the demo app's CONVERSION_RATE), a few times over its visits. 127.0.0.1 only, a bounded
// number of shoppers at a bounded rate, and it stops by itself.
//
//   node examples/shoppers.mjs --target 127.0.0.1:8130 --users 1500 --rate 200 [--visits 2]
//                              [--concurrency 32] [--header x-user-id] [--skip a=0.4]
//
// --header NAME   send a user id in that header instead of relying on cookies
// --skip V=S      (with --header) never send a share S of the users whose id the router
//                 would put on variant V: a deliberately skewed sample, for SRM checks;
//                 needs --salt (the test's `<rollout>/<experiment>`) and --weights
//                 a=50:1,b=50:2 (variant=weight:revision)
// Prints one JSON line: shoppers, requests, checkouts, errors, per variant.
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({
  options: {
    target: { type: 'string', default: '127.0.0.1:8130' },
    users: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '200' },
    visits: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '32' },
    header: { type: 'string' },
    skip: { type: 'string' },
    salt: { type: 'string' },
    weights: { type: 'string' },
    seed: { type: 'string', default: String(Date.now()) },
  },
});
const [host, portText] = o.target.split(':');
if (host !== '127.0.0.1' && host !== 'localhost') throw new Error(`--target ${o.target}: shoppers only visit 127.0.0.1`);
const port = Number(portText);
const users = Math.min(Number(o.users), 1_000_000);
const rate = Math.min(Number(o.rate), 5000);
const visits = Math.max(1, Number(o.visits));
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(o.concurrency) });

const skip = await skipper();
const totals = { shoppers: 0, requests: 0, checkouts: 0, errors: 0, skipped: 0, variants: {} };

function request(method, path, headers) {
  return new Promise((resolve) => {
    const req = http.request({ host, port, method, path, headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', (err) => resolve({ status: 0, headers: {}, body: String(err) }));
    req.end();
  });
}

async function shopper(i) {
  const id = `shopper-${o.seed}-${i}`;
  if (skip?.(id)) {
    totals.skipped++;
    return;
  }
  let cookie;
  const headers = () => ({ ...(o.header ? { [o.header]: id } : {}), ...(cookie ? { cookie } : {}) });
  totals.shoppers++;
  for (let v = 0; v < visits; v++) {
    const page = await request('GET', '/shop', headers());
    totals.requests++;
    const set = page.headers['set-cookie'];
    if (set) cookie = set.map((c) => c.split(';')[0]).join('; ');
    const variant = page.headers['x-sluice-variant'] ?? '?';
    const t = (totals.variants[variant] ??= { shoppers: 0, checkouts: 0, errors: 0 });
    if (v === 0) t.shoppers++;
    if (page.status !== 200) {
      totals.errors++;
      t.errors++;
      continue;
    }
    const chance = JSON.parse(page.body).checkoutChance ?? 0;
    // Spread over the visits so the chance to buy at least once is the page's.
    if (Math.random() < 1 - (1 - chance) ** (1 / visits)) {
      const r = await request('POST', '/checkout', headers());
      totals.requests++;
      if (r.status === 200) {
        totals.checkouts++;
        t.checkouts++;
      } else {
        totals.errors++;
        t.errors++;
      }
    }
  }
}

/** --skip: ids whose variant (by the router's hash and split) is V are dropped with chance S. */
async function skipper() {
  if (!o.skip) return undefined;
  if (!o.header || !o.salt || !o.weights) throw new Error('--skip needs --header, --salt and --weights');
  const [variant, share] = o.skip.split('=');
  const { assignmentBucket, assignmentSeed } = await import('../dist/src/experiments/assign.js');
  const { BucketSplit } = await import('../dist/src/router/split.js');
  // Variants in spec order get revisions 1, 2, …: the BucketSplit orders by revision, so pass the real ones.
  const arms = o.weights.split(',').map((w) => {
    const [name, weight, revision] = w.split(/[=:]/);
    return { name, weight: Number(weight), revision: Number(revision) };
  });
  const split = new BucketSplit(arms.map((a) => ({ revision: a.revision, weight: a.weight, item: a.name })));
  const seed = assignmentSeed(o.salt);
  let n = 0;
  return (id) => split.at(assignmentBucket(seed, id)) === variant && ((n = (n * 1103515245 + 12345) % 2 ** 31), n / 2 ** 31 < Number(share));
}

const start = Date.now();
const inflight = new Set();
for (let i = 0; i < users; i++) {
  // Bounded rate: shopper i starts no sooner than i / rate seconds in.
  const due = start + (i * 1000) / rate - Date.now();
  if (due > 0) await new Promise((r) => setTimeout(r, due));
  const p = shopper(i).finally(() => inflight.delete(p));
  inflight.add(p);
  if (inflight.size >= Number(o.concurrency)) await Promise.race(inflight);
}
await Promise.all(inflight);
agent.destroy();
console.log(JSON.stringify({ ...totals, seconds: (Date.now() - start) / 1000 }));
