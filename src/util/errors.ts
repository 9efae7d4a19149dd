/**
 * An error a user can meet and fix. Its message is one line: what was wrong, where
 * (file:line:field, or the resource name) and what to do.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly code: string = 'invalid',
    /** HTTP status when it crosses the API. */
    readonly status: number = 400,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export class NotFoundError extends UserError {
  constructor(message: string) {
    super(message, 'not-found', 404);
  }
}
