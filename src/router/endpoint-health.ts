/**
 * Passive health of one instance, by endpoint id: like the in-flight counts (inflight.ts) it
 * lives outside the compiled table, so an ejected instance that stays in the next table stays
 * ejected, and its failure streak is not reset by a route update.
 */
export class EndpointHealth {
  /** 5xx answers / connect errors in a row. */
  consecutive = 0;
  /** Out of rotation (balancers skip it unless every endpoint is). */
  ejected = false;
  /** Times ejected so far: the next ejection lasts baseEjectionMs × min(this, MAX_EJECTION_MULTIPLIER). */
  ejections = 0;
  timer: NodeJS.Timeout | undefined = undefined;
  /** When it last came back (ms since epoch), 0 if never ejected. */
  returnedAt = 0;
  constructor(readonly id: string) {}
}
