// sluice demo app: a dependency-free HTTP server to release with sluice.
//
// Environment:
//   PORT              port to listen on, on 127.0.0.1 (set by sluice; default 8080)
//   VERSION           version it reports (default "v1")
//   ERROR_RATE        share of app requests answered 500, 0..1 (default 0)
//   LATENCY_MS        delay added to every app request, in ms (default 0)
//   STARTUP_DELAY_MS  delay before it starts listening, in ms (default 0)
//   READY             "false": /healthz always answers 503, so readiness never passes
//
// Routes:
//   /healthz  200 "ok" once listening (503 when READY=false); no latency, no errors
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
    res.writeHead(failed ? 500 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(failed ? { version, error: 'injected failure' } : { version, pid: process.pid, path }));
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
