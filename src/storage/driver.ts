import type { Readable, Writable } from 'node:stream';
import type { ByteSpan } from './send.js';

/**
 * The storage driver: a deliberately small, filesystem-like key/value store for blobs.
 * It knows nothing of manifests or repositories; registry/ builds those rules on top.
 * Paths are absolute, `/`-separated, made of `[A-Za-z0-9._-]` components (see paths.ts).
 * Every driver must pass the shared suite in test/storage/driver-suite.ts.
 */
export interface StorageDriver {
  readonly name: string;
  /** Reads a small object whole. */
  getContent(path: string): Promise<Buffer>;
  /** Writes a small object atomically: readers see the old content or the new, never a part. */
  putContent(path: string, data: Uint8Array): Promise<void>;
  /** Streams an object from `offset`; throws PathNotFoundError or InvalidOffsetError before streaming. */
  reader(path: string, offset?: number): Promise<Readable>;
  /**
   * Writes an object, or `span` of it, into `dest` (which is not ended), as fast as the medium
   * allows: the path for serving blobs. Throws PathNotFoundError or InvalidOffsetError before
   * writing anything.
   */
  sendTo(path: string, dest: Writable, span?: ByteSpan): Promise<void>;
  /** Opens an object for writing, appending to what is there when `append` is set. */
  writer(path: string, options?: { append?: boolean }): Promise<FileWriter>;
  stat(path: string): Promise<FileInfo>;
  /** The direct children of a directory, as full paths, sorted. */
  list(path: string): Promise<string[]>;
  /** Moves an object atomically, replacing any object at `dest`. */
  move(source: string, dest: string): Promise<void>;
  /** Deletes an object or a whole directory. */
  delete(path: string): Promise<void>;
  /**
   * A URL from which a client can GET the object directly for `expiresIn` seconds (a presigned
   * S3 URL), for drivers whose store clients can reach; absent otherwise.
   */
  redirectURL?(path: string, expiresIn: number): Promise<string>;
}

export interface FileInfo {
  path: string;
  size: number;
  modTime: Date;
  isDir: boolean;
}

/** A writer's bytes go to `stream`; then `commit` makes them durable, or `cancel` discards them. */
export interface FileWriter {
  readonly stream: Writable;
  /** Bytes in the object so far, including what was there before an append. */
  size(): number;
  /** Waits for the stream to finish, then flushes the object to stable storage. */
  commit(): Promise<void>;
  /** Waits for the stream to finish and closes the object without a flush (it may be appended to later). */
  close(): Promise<void>;
  /** Stops writing and deletes the object. */
  cancel(): Promise<void>;
}

export class StorageError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
  }
}

export class PathNotFoundError extends StorageError {
  override readonly name = 'PathNotFoundError';
  constructor(path: string) {
    super(`path not found: ${path}`, path);
  }
}

export class InvalidOffsetError extends StorageError {
  override readonly name = 'InvalidOffsetError';
  constructor(path: string, offset: number) {
    super(`invalid offset ${offset} for ${path}`, path);
  }
}

export class InvalidPathError extends StorageError {
  override readonly name = 'InvalidPathError';
  constructor(path: string) {
    super(`invalid path: ${JSON.stringify(path)}`, path);
  }
}

/** The medium has no room left (ENOSPC, EDQUOT, or a driver's own quota). */
export class StorageFullError extends StorageError {
  override readonly name = 'StorageFullError';
  constructor(path: string, cause?: unknown) {
    super(`no space left on the storage for ${path}`, path);
    if (cause !== undefined) this.cause = cause;
  }
}

/** The storage service cannot be reached, or failed on its side (a 5xx): worth a retry later. */
export class StorageUnavailableError extends StorageError {
  override readonly name = 'StorageUnavailableError';
  constructor(path: string, cause?: unknown) {
    super(`storage unavailable for ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, path);
    if (cause !== undefined) this.cause = cause;
  }
}

/** Did `err` fail for lack of space? StorageFullError, or a system error ENOSPC/EDQUOT. */
export function isStorageFull(err: unknown): boolean {
  if (err instanceof StorageFullError) return true;
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

const PATH_PATTERN = /^(\/[A-Za-z0-9._-]+)+$/;

/** Throws InvalidPathError unless `path` is absolute, clean and has no `.`/`..` component. */
export function checkPath(path: string, allowRoot = false): void {
  if (allowRoot && path === '/') return;
  if (!PATH_PATTERN.test(path) || path.split('/').some((c) => c === '.' || c === '..')) {
    throw new InvalidPathError(path);
  }
}
