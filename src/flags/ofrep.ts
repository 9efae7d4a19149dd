/**
 * The OFREP endpoint the data plane serves (OpenFeature Remote Evaluation Protocol).
 * STUB: the interface is fixed; the implementation lands with the evaluator.
 */
import type http from 'node:http';
import type { FlagPush, FlagUsage } from '../core/flags.js';

export interface OfrepServiceOptions {
  /** Epoch ms; tests pass a fake. */
  now?: () => number;
}

/** One OFREP endpoint: the data plane's listener calls `handle` for every request. */
export interface OfrepService {
  /** Serve one HTTP request (any path; non-OFREP paths answer 404). */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void;
  /** Swap in a new push (flags and tokens); open change streams are told at once. */
  update(push: FlagPush): void;
  /** The push in effect, or undefined before the first. */
  current(): FlagPush | undefined;
  /** Cumulative evaluation counters since this service started. */
  usage(): FlagUsage[];
  /** Ends open change streams (SSE) so a listener can close. */
  close(): void;
}

export function createOfrepService(_options: OfrepServiceOptions = {}): OfrepService {
  throw new Error('createOfrepService: not implemented yet');
}
