/**
 * `GET /v1/stream`: the change feed as server-sent events (issue 16). One `hello` first (the
 * control plane's id: a different one after a reconnect means it restarted and the page
 * refetches), then every feed message as `event: <name>` + `data: <json>`; a comment every
 * PING_MS keeps proxies from closing an idle stream. A client that reads slower than the
 * feed writes is cut off once MAX_BUFFERED_BYTES wait for it (its EventSource reconnects and
 * refetches), so one stuck tab never grows the control plane's memory.
 */
import type { ServerResponse } from 'node:http';
import type { StreamMessage } from '../core/live.js';
import type { FeedListener } from '../engine/change-feed.js';

export const PING_MS = 15_000;
/** The EventSource's reconnect delay. */
export const RETRY_MS = 1000;
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

export interface StreamSource {
  subscribe(listener: FeedListener): () => void;
}

/**
 * Streams `source` to `res` until the client goes. `redact` applies to every message's data
 * (no secret leaves through the stream either).
 */
export function serveStream(res: ServerResponse, source: StreamSource, hello: { server: string; at: number }, redact: (m: StreamMessage) => unknown): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
    connection: 'keep-alive',
  });
  res.socket?.setNoDelay(true);
  res.write(`retry: ${RETRY_MS}\n\n`);
  const write = (m: StreamMessage) => {
    if (res.destroyed) return;
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      res.destroy();
      return;
    }
    res.write(`event: ${m.event}\ndata: ${JSON.stringify(redact(m))}\n\n`);
  };
  write({ event: 'hello', data: hello });
  const unsubscribe = source.subscribe(write);
  const ping = setInterval(() => {
    if (!res.destroyed) res.write(': ping\n\n');
  }, PING_MS);
  ping.unref();
  res.once('close', () => {
    clearInterval(ping);
    unsubscribe();
  });
}
