/** The answer when no revision can serve, prepared once per table. */
export interface PreparedAnswer {
  status: number;
  headers: Record<string, string | number>;
  body: Buffer;
}
