/**
 * An app instance run as its own process for the router resilience tests:
 * `node dist/test/helpers/resil-app.js NAME` prints its port on stdout, then serves
 *   /            its name (500 while failing)    /slow?ms=N  the same after N ms
 *   /upload      reads the body; JSON {bytes, waitedMs}: time from request head to body end
 *   /__fail?on=1 (admin) start failing every request with 500; on=0 stops
 *   /__hits      (admin) requests served so far, admin excluded
 */
import http from 'node:http';

const name = process.argv[2] ?? 'app';
let failing = false;
let hits = 0;

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/__fail') {
    failing = url.searchParams.get('on') === '1';
    res.end('ok');
    return;
  }
  if (url.pathname === '/__hits') {
    res.end(String(hits));
    return;
  }
  hits++;
  if (url.pathname === '/upload') {
    const start = Date.now();
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ name, bytes, waitedMs: Date.now() - start }));
    });
    return;
  }
  req.resume();
  const answer = (): void => {
    res.writeHead(failing ? 500 : 200, { 'content-type': 'text/plain' });
    res.end(name);
  };
  const ms = Number(url.searchParams.get('ms') ?? '0');
  if (url.pathname === '/slow' && ms > 0) setTimeout(answer, ms);
  else answer();
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as { port: number }).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
