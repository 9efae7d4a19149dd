// A fixed-rate (open-loop) HTTP load generator, run as its own process:
//   node bench/lib/open-loop.mjs --port P --rate 2000 --seconds 10 --warmup 2
// Requests leave on schedule whatever the answers take (wrk2's idea; wrk2 is not in
// Debian), over keep-alive connections opened as needed. Latency is measured per request
// from the moment it is handed to the socket pool to the end of the response; requests of
// the warm-up are not counted. Prints one JSON line. 127.0.0.1 only, rate ≤ 10,000/s,
// and it stops by itself.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    path: { type: 'string', default: '/' },
    // For POST loads (bench/ofrep.mjs): the method, a fixed body, and `Name: value` headers.
    method: { type: 'string', default: 'GET' },
    body: { type: 'string' },
    header: { type: 'string', multiple: true, default: [] },
  },
});
const headers = {};
for (const h of values.header) {
  const i = h.indexOf(':');
  if (i <= 0) throw new Error(`--header ${h}: expected "Name: value"`);
  headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
}
const body = values.body === undefined ? undefined : Buffer.from(values.body);
if (body !== undefined) headers['content-length'] = String(body.length);
const port = Number(values.port);
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
if (!(port > 0 && port < 65536)) throw new Error('--port must be 1..65535');
if (!(rate > 0 && rate <= 10_000)) throw new Error('--rate must be in 1..10000 requests/s');
if (!(seconds > 0 && seconds <= 120) || !(warmup >= 0 && warmup <= 30)) throw new Error('--seconds ≤ 120, --warmup ≤ 30');

const agent = new http.Agent({ keepAlive: true, maxSockets: 512, noDelay: true });
const total = Math.round((warmup + seconds) * rate);
const firstCounted = Math.round(warmup * rate);
const latencies = new Float64Array(total - firstCounted);
let counted = 0;
let sent = 0;
let done = 0;
let errors = 0;
let non2xx = 0;
let maxLagMs = 0;
let sendSeconds = NaN;
const t0 = performance.now();

function send(index) {
  const start = performance.now();
  const req = http.request({ host: '127.0.0.1', port, path: values.path, method: values.method, headers, agent }, (res) => {
    res.on('data', () => {});
    res.on('end', () => {
      if (res.statusCode < 200 || res.statusCode >= 300) non2xx++;
      else if (index >= firstCounted) latencies[counted++] = performance.now() - start;
      finish();
    });
  });
  req.on('error', () => {
    errors++;
    finish();
  });
  req.end(body);
}

function finish() {
  if (++done === total) report();
}

// Every millisecond or so, send what is due by now; lag is how far behind schedule the
// generator itself fell (it should stay well under a millisecond or two).
const timer = setInterval(() => {
  const now = performance.now() - t0;
  const due = Math.min(total, Math.floor((now / 1000) * rate));
  if (sent < due && sent >= firstCounted) maxLagMs = Math.max(maxLagMs, now - (sent / rate) * 1000);
  while (sent < due) send(sent++);
  if (sent === total) {
    sendSeconds = now / 1000;
    clearInterval(timer);
  }
}, 1);

const hardStop = setTimeout(report, (warmup + seconds + 10) * 1000);

let reported = false;
function report() {
  if (reported) return;
  reported = true;
  clearInterval(timer);
  clearTimeout(hardStop);
  const l = latencies.subarray(0, counted).sort();
  const q = (p) => (l.length === 0 ? null : l[Math.min(l.length - 1, Math.ceil((p / 100) * l.length) - 1)]);
  process.stdout.write(
    JSON.stringify({
      rate,
      seconds,
      warmup,
      sent,
      done,
      counted,
      errors,
      non2xx,
      sendRate: sent / sendSeconds,
      maxLagMs,
      p50Ms: q(50),
      p90Ms: q(90),
      p99Ms: q(99),
      maxMs: q(100),
    }) + '\n',
  );
  agent.destroy();
  process.exit(0);
}
