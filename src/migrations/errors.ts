/** A migration file or folder that cannot be used as written: `file:line:col: what — what to do`. */
export class MigrationError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly problem: string,
  ) {
    super(`${file}:${line}:${col}: ${problem}`);
    this.name = 'MigrationError';
  }
}
