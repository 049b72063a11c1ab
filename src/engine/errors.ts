// The engine's base error, apart from images.ts so that low modules (filters.ts) can throw it
// without importing the image listing that uses them.

/** An engine error with Docker's daemon wording (the CLI prints `Error response from daemon: …`). */
export class DaemonError extends Error {
  override readonly name = 'DaemonError';
}
