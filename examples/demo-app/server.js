// sluice demo app: a dependency-free HTTP server to release with sluice.
//
// Environment:
//   PORT              port to listen on, on 127.0.0.1 (set by sluice; default 8080)
//   VERSION           version it reports (default "v1")
//   ERROR_RATE        share of app requests answered 500, 0..1 (default 0)
//   LATENCY_MS        delay added to every app request, in ms (default 0)
//   STARTUP_DELAY_MS  delay before it starts listening, in ms (default 0)
//   READY             "false": /healthz always answers 503, so readiness never passes
//   CONVERSION_RATE   the shop page's pull, 0..1: the chance a visitor goes on to check out
//                     (default 0.1); the page says it, so a simulated shopper
//                     (examples/shoppers.mjs) can behave like a real one would
//   ORDER_VALUE       mean order value of a checkout (default 40)
//
// Routes:
//   /healthz  200 "ok" once listening (503 when READY=false); no latency, no errors
//   /shop            200 {"version","checkoutChance"}: the page an A/B test shows
//   POST /checkout   200 {"version","order"} with x-sluice-value: <order value> (a goal
//                    sluice's router counts as a conversion, the header as revenue)
//   anything  200 {"version","pid","path"} with header x-version (or 500 at ERROR_RATE)
//
// On SIGTERM (or SIGINT) it drains honestly: stops accepting connections, finishes the
// requests in flight, closes idle keep-alive sockets, then exits 0.
import http from 'node:http';

const port = Number(process.env.PORT ?? 8080);
const version = process.env.VERSION ?? 'v1';
const errorRate = Number(process.env.ERROR_RATE ?? 0);
const latencyMs = Number(process.env.LATENCY_MS ?? 0);
const startupDelayMs = Number(process.env.STARTUP_DELAY_MS ?? 0);
const ready = process.env.READY !== 'false';
const conversionRate = Number(process.env.CONVERSION_RATE ?? 0.1);
const orderValue = Number(process.env.ORDER_VALUE ?? 40);

let draining = false;
let inFlight = 0;

const server = http.createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  // While draining, answers ask the client to close so keep-alive sockets do not linger.
  if (draining) res.setHeader('connection', 'close');
  res.setHeader('x-version', version);
  if (path === '/healthz') {
    res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(ready ? 'ok' : 'not ready');
    return;
  }
  inFlight++;
  res.on('close', () => {
    inFlight--;
    if (draining) server.closeIdleConnections();
  });
  setTimeout(() => {
    const failed = Math.random() < errorRate;
    if (failed) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ version, error: 'injected failure' }));
    } else if (path === '/shop') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ version, checkoutChance: conversionRate }));
    } else if (path === '/checkout' && req.method === 'POST') {
      // An order worth around ORDER_VALUE (exponentially distributed, in cents).
      const order = Math.round(-Math.log(1 - Math.random()) * orderValue * 100) / 100;
      res.writeHead(200, { 'content-type': 'application/json', 'x-sluice-value': String(order) });
      res.end(JSON.stringify({ version, order }));
      req.resume();
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ version, pid: process.pid, path }));
    }
  }, latencyMs);
});

function drain(signal) {
  if (draining) return;
  draining = true;
  console.log(`demo-app ${version}: ${signal}, draining ${inFlight} request(s)`);
  server.close(() => {
    console.log(`demo-app ${version}: drained, exiting`);
    process.exit(0);
  });
  server.closeIdleConnections();
}
process.on('SIGTERM', () => drain('SIGTERM'));
process.on('SIGINT', () => drain('SIGINT'));

setTimeout(() => {
  server.listen(port, '127.0.0.1', () => {
    console.log(`demo-app ${version} listening on 127.0.0.1:${port} (pid ${process.pid})`);
  });
}, startupDelayMs);
