/** The worker behind loadResourcesAsync: parses manifests off the control plane's event loop. */
import { parentPort } from 'node:worker_threads';
import { UserError } from '../util/errors.js';
import { loadResources } from './load.js';
import type { LoadRequest, LoadReply } from './load-async.js';

parentPort!.on('message', ({ id, text, file, options }: LoadRequest) => {
  let reply: LoadReply;
  try {
    reply = { id, resources: loadResources(text, file, options) };
  } catch (err) {
    reply =
      err instanceof UserError
        ? { id, error: { message: err.message, code: err.code, status: err.status } }
        : { id, crash: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  parentPort!.postMessage(reply);
});
