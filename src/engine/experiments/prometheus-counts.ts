/**
 * A Prometheus metric of an experiment: an instant query whose vector has one sample per
 * variant (label `variant`), each the count of converted users of that variant.
 */
const TIMEOUT_MS = 10_000;

export async function prometheusCounts(address: string, query: string): Promise<Record<string, number>> {
  const url = `${address.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(query)}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  const text = await res.text();
  if (!res.ok) throw new Error(`Prometheus at ${address} answered ${res.status} to ${JSON.stringify(query)}: ${text.slice(0, 200)}`);
  const body = JSON.parse(text) as { data?: { resultType?: string; result?: { metric?: Record<string, string>; value?: [number, string] }[] } };
  if (body.data?.resultType !== 'vector')
    throw new Error(
      `Prometheus query ${JSON.stringify(query)} must return an instant vector (one sample per variant), got ${body.data?.resultType ?? 'nothing'}`,
    );
  const out: Record<string, number> = {};
  for (const sample of body.data.result ?? []) {
    const variant = sample.metric?.variant;
    const v = Number(sample.value?.[1]);
    if (variant === undefined)
      throw new Error(`Prometheus query ${JSON.stringify(query)} returned a sample without a variant label — aggregate with sum by (variant)`);
    if (Number.isFinite(v)) out[variant] = (out[variant] ?? 0) + v;
  }
  return out;
}
