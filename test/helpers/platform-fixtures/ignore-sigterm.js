// An instance that ignores SIGTERM, so the platform has to SIGKILL it after the grace period.
import http from 'node:http';

process.on('SIGTERM', () => console.log('ignore-sigterm: got SIGTERM, ignoring it'));
http
  .createServer((_req, res) => res.end('ok'))
  .listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`ignore-sigterm listening on ${process.env.PORT}`));
