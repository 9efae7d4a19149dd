/**
 * Prometheus metrics: one instant query (`GET {address}/api/v1/query`) per measurement,
 * after `{{args.x}}` substitution. What conditions see as `result`:
 * - a vector with one sample → that number; several samples → a list of numbers (in the
 *   order Prometheus sent them); a scalar → its number;
 * - an empty vector, or a single NaN, follows `onEmpty`: 'error' (the default) throws, so
 *   "no data" is never a success; 'inconclusive' gives `{value: null, details.inconclusive}`;
 *   `{value: N}` stands in N;
 * - a string or a range vector (matrix) is an error: write an instant-vector query.
 * Prometheus' own `status: "error"` answers throw with its errorType and error text.
 */
import type { MeasurementContext, MetricProvider, PrometheusProviderConfig, ProviderResult } from '../../core/analysis.js';
import { substitute, substituteValues } from '../template-vars.js';
import { httpRequest, MeasurementError } from './web.js';

interface PrometheusAnswer {
  status?: string;
  errorType?: string;
  error?: string;
  data?: { resultType?: string; result?: unknown };
}

export class PrometheusProvider implements MetricProvider<PrometheusProviderConfig> {
  readonly kind = 'prometheus' as const;

  async measure(config: PrometheusProviderConfig, ctx: MeasurementContext, signal: AbortSignal): Promise<ProviderResult> {
    const query = substitute(config.query, ctx.args);
    const address = config.address.replace(/\/+$/, '');
    const url = `${address}/api/v1/query?query=${encodeURIComponent(query)}`;
    const answer = await httpRequest({
      what: `prometheus at ${address}`,
      url,
      method: 'GET',
      headers: substituteValues(config.headers ?? {}, ctx.args),
      timeoutSeconds: config.timeoutSeconds,
      signal,
    });
    let parsed: PrometheusAnswer;
    try {
      parsed = JSON.parse(answer.body) as PrometheusAnswer;
    } catch {
      throw new MeasurementError(
        `prometheus at ${address} answered ${answer.status} ${answer.statusText} with a body that is not Prometheus JSON — is the address a Prometheus server?`,
      );
    }
    if (parsed.status === 'error') {
      throw new MeasurementError(`prometheus query failed (${parsed.errorType ?? 'error'}): ${parsed.error ?? 'no reason given'} — query: ${query}`);
    }
    if (answer.status < 200 || answer.status > 299 || parsed.status !== 'success' || parsed.data === undefined) {
      throw new MeasurementError(`prometheus at ${address} answered ${answer.status} ${answer.statusText} without a successful query result — query: ${query}`);
    }
    const details: Record<string, unknown> = { query };
    const value = readResult(parsed.data, query);
    if (value !== undefined) return { value, details };
    const onEmpty = config.onEmpty ?? 'error';
    if (onEmpty === 'inconclusive') return { value: null, details: { ...details, inconclusive: true } };
    if (typeof onEmpty === 'object') return { value: onEmpty.value, details: { ...details, empty: true } };
    throw new MeasurementError(`prometheus query returned no data: ${query}`);
  }
}

/** The result as conditions see it, or undefined for "no data" (empty vector, NaN). */
function readResult(data: NonNullable<PrometheusAnswer['data']>, query: string): unknown {
  const { resultType, result } = data;
  switch (resultType) {
    case 'vector': {
      const samples = Array.isArray(result) ? result : [];
      if (samples.length === 0) return undefined;
      const values = samples.map((s) => sampleValue((s as { value?: unknown }).value, query));
      if (values.length === 1) return Number.isNaN(values[0]) ? undefined : values[0];
      return values;
    }
    case 'scalar': {
      const n = sampleValue(result, query);
      return Number.isNaN(n) ? undefined : n;
    }
    case 'string':
      throw new MeasurementError(`prometheus query returned a string, not a number — query: ${query}`);
    case 'matrix':
      throw new MeasurementError(
        `prometheus query returned a range vector — conditions need an instant value; wrap it, e.g. rate(x[5m]) or max_over_time(x[5m]) — query: ${query}`,
      );
    default:
      throw new MeasurementError(`prometheus answered an unknown result type '${String(resultType)}' — query: ${query}`);
  }
}

/** Prometheus sends [timestamp, "value"], with "+Inf", "-Inf" and "NaN" spelled its own way. */
function sampleValue(pair: unknown, query: string): number {
  const text = Array.isArray(pair) ? pair[1] : undefined;
  if (typeof text !== 'string') throw new MeasurementError(`prometheus answered a sample without a value — query: ${query}`);
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const n = Number(text);
  if (text.trim() === '' || Number.isNaN(n)) throw new MeasurementError(`prometheus answered a sample value '${text}' that is not a number — query: ${query}`);
  return n;
}
