// Errors from the backend: one class for every failure a command or
// the master reports (docs/desktop-api.md).

/** An error from the master or the app: a code, words for a clerk, details. */
export class ApiError extends Error {
  readonly code: string;
  readonly details: any;

  constructor(code: string, message: string, details?: any) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.details = details ?? null;
  }

  /**
   * The app's own condition (`devices_connected`, `not_master`,
   * `not_slave`): the code itself, or the details' reason when the shell
   * sends it under a protocol code (`conflict` + reason `devices_connected`).
   */
  is(reason: string): boolean {
    return this.code === reason || this.details?.reason === reason;
  }

  /** Whatever a command rejected with, as an ApiError. */
  static from(e: unknown): ApiError {
    if (e instanceof ApiError) return e;
    if (e && typeof e === 'object') {
      const o = e as Record<string, unknown>;
      if (typeof o.code === 'string' && typeof o.message === 'string') {
        return new ApiError(o.code, o.message, o.details);
      }
      if (e instanceof Error) return new ApiError('internal', e.message);
    }
    if (typeof e === 'string' && e.length > 0) return new ApiError('internal', e);
    return new ApiError('internal', 'the app did not answer as expected');
  }
}
