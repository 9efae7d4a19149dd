/**
 * Web metrics: one HTTP GET or POST per measurement, the answer parsed as JSON and,
 * with `jsonPath`, one value picked from it. `{{args.x}}` is substituted in the URL, the
 * header values and every string of the body. A non-2xx answer, a body that is not JSON,
 * a path that matches nothing, a timeout or an unreachable server throw: the run records
 * an Error measurement. The picked value goes to the conditions as it is (number,
 * boolean, string, list or object): `jsonPath: $.ok` with `successCondition: result == true`.
 */
import type { MeasurementContext, MetricProvider, ProviderResult, WebProviderConfig } from '../../core/analysis.js';
import { UserError } from '../../util/errors.js';
import { evaluateJsonPath } from '../jsonpath.js';
import { substitute, substituteDeep, substituteValues } from '../template-vars.js';

/** Answers larger than this are not metrics; reading them whole would only cost memory. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const DEFAULT_TIMEOUT_SECONDS = 10;

export class MeasurementError extends UserError {
  constructor(message: string) {
    super(message, 'measurement-error', 502);
    this.name = 'MeasurementError';
  }
}

export class WebProvider implements MetricProvider<WebProviderConfig> {
  readonly kind = 'web' as const;

  async measure(config: WebProviderConfig, ctx: MeasurementContext, signal: AbortSignal): Promise<ProviderResult> {
    const url = substitute(config.url, ctx.args);
    const method = config.method ?? 'GET';
    const headers = substituteValues(config.headers ?? {}, ctx.args);
    let body: string | undefined;
    if (config.body !== undefined && method !== 'GET') {
      body = JSON.stringify(substituteDeep(config.body, ctx.args));
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    }
    const answer = await httpRequest({ what: `web metric ${method} ${url}`, url, method, headers, body, timeoutSeconds: config.timeoutSeconds, signal });
    if (answer.status < 200 || answer.status > 299) {
      throw new MeasurementError(`web metric ${method} ${url} answered ${answer.status} ${answer.statusText}${excerpt(answer.body)}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body);
    } catch {
      throw new MeasurementError(`web metric ${method} ${url} answered with a body that is not JSON${excerpt(answer.body)}`);
    }
    const details: Record<string, unknown> = { url, status: answer.status };
    if (config.jsonPath === undefined || config.jsonPath.trim() === '') return { value: parsed, details };
    const value = evaluateJsonPath(config.jsonPath, parsed);
    if (value === undefined) {
      throw new MeasurementError(`jsonPath ${config.jsonPath} matched nothing in the answer from ${url}${excerpt(answer.body)}`);
    }
    return { value, details: { ...details, jsonPath: config.jsonPath } };
  }
}

export interface HttpRequest {
  /** Names the request in error messages, e.g. "prometheus at http://…". */
  what: string;
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  timeoutSeconds: number | undefined;
  signal: AbortSignal;
}

export interface HttpAnswer {
  status: number;
  statusText: string;
  body: string;
}

/** One HTTP exchange bounded by a timeout and the caller's signal, with errors that name the target. */
export async function httpRequest(req: HttpRequest): Promise<HttpAnswer> {
  const seconds = req.timeoutSeconds !== undefined && req.timeoutSeconds > 0 ? req.timeoutSeconds : DEFAULT_TIMEOUT_SECONDS;
  const timeout = AbortSignal.timeout(seconds * 1000);
  const signal = AbortSignal.any([req.signal, timeout]);
  try {
    const response = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body, signal, redirect: 'follow' });
    return { status: response.status, statusText: response.statusText, body: await readLimited(response, req.what) };
  } catch (err) {
    if (req.signal.aborted) throw cancelled(req.signal);
    if (timeout.aborted) throw new MeasurementError(`${req.what} did not answer within ${seconds}s — raise timeoutSeconds or check the server`);
    if (err instanceof MeasurementError) throw err;
    throw new MeasurementError(`${req.what} is unreachable: ${reason(err)} — check the address and that the server is running`);
  }
}

export function cancelled(signal: AbortSignal): Error {
  return signal.reason instanceof Error && signal.reason.name !== 'AbortError' ? signal.reason : new Error('measurement cancelled');
}

async function readLimited(response: Response, what: string): Promise<string> {
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop early cancels the stream, so an oversized answer is not read to the end.
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) break;
    chunks.push(chunk);
  }
  if (size > MAX_BODY_BYTES) {
    throw new MeasurementError(`${what} answered with more than ${MAX_BODY_BYTES / 1024 / 1024} MiB — point it at a smaller answer`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** fetch hides the socket error under `cause`; that is the part worth showing. */
function reason(err: unknown): string {
  const cause = (err as { cause?: { message?: string; code?: string } }).cause;
  if (cause?.message) return cause.message;
  return err instanceof Error ? err.message : String(err);
}

function excerpt(body: string): string {
  const text = body.trim().replace(/\s+/g, ' ');
  if (text === '') return '';
  return `: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`;
}
