// Errors a UI page throws on purpose; the UI's error handler renders them as a page with their status.

/** A page-level failure with a status and words for a person. */
export class UiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly title: string,
    message: string,
  ) {
    super(message);
    this.name = 'UiError';
  }
}
