/** A layer that cannot be applied: malformed, or in conflict with what is on disk. */
export class LayerError extends Error {
  constructor(
    /** The tar entry's name as written in the archive. */
    readonly entry: string,
    /** Why, in a few words. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${JSON.stringify(entry)}: ${reason}`, options);
    this.name = 'LayerError';
  }
}

/**
 * A layer entry refused for safety, before anything of that entry was written:
 * a path that escapes the root (`..`), a hardlink to a missing file, a device
 * node when devices are not allowed, an invalid whiteout.
 */
export class UnsafeLayerError extends LayerError {
  constructor(entry: string, reason: string) {
    super(entry, reason);
    this.name = 'UnsafeLayerError';
  }
}

/** The stream is not a readable tar: corrupt header, or truncated in the middle of an entry. */
export class TarFormatError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`invalid tar stream: ${message}`, options);
    this.name = 'TarFormatError';
  }
}
