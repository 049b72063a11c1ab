import { isDatabaseUnavailable } from '../metadata/db-errors.js';
import { PlanLimitError } from '../metadata/namespaces.js';
import { isDatabaseFull } from '../metadata/sqlite.js';
import { isStorageFull, StorageUnavailableError } from '../storage/driver.js';

/**
 * The error catalog of the /v2 API: Distribution's codes, messages and HTTP statuses.
 * Every /v2 error is a RegistryError built from one of these, rendered as
 * `{"errors":[{"code","message","detail"}]}`.
 */
export const ErrorCodes = {
  UNKNOWN: { status: 500, message: 'unknown error' },
  UNSUPPORTED: { status: 405, message: 'The operation is unsupported.' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  RANGE_INVALID: { status: 416, message: 'invalid content range' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  TAG_INVALID: { status: 400, message: 'manifest tag did not match URI' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNVERIFIED: { status: 400, message: 'manifest failed signature verification' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: 'blob unknown to registry' },
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 404, message: 'blob upload invalid' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ErrorCodes;

export interface RegistryErrorOptions {
  message?: string;
  detail?: unknown;
  status?: number;
  /** Further errors reported in the same envelope (e.g. one MANIFEST_BLOB_UNKNOWN per missing blob). */
  also?: RegistryError[];
  /** Response headers that belong to the error, e.g. WWW-Authenticate or Retry-After. */
  headers?: Record<string, string>;
}

export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  readonly status: number;
  readonly detail: unknown;
  readonly also: readonly RegistryError[];
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    readonly code: ErrorCode,
    options: RegistryErrorOptions = {},
  ) {
    super(options.message ?? ErrorCodes[code].message);
    this.status = options.status ?? ErrorCodes[code].status;
    this.detail = options.detail;
    this.also = options.also ?? [];
    this.headers = options.headers ?? {};
  }

  /** The OCI error envelope. */
  toJSON(): { errors: { code: string; message: string; detail?: unknown }[] } {
    const entry: { code: string; message: string; detail?: unknown } = { code: this.code, message: this.message };
    if (this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry, ...this.also.flatMap((e) => e.toJSON().errors)] };
  }
}

/** Shorthand: `fail('BLOB_UNKNOWN', { detail })`. */
export function fail(code: ErrorCode, options?: RegistryErrorOptions): never {
  throw new RegistryError(code, options);
}

/** Did `err` fail for lack of space, in blob storage or in the metadata database? */
export function isOutOfSpace(err: unknown): boolean {
  return isStorageFull(err) || isDatabaseFull(err);
}

/**
 * What a request that ran out of space answers. Docker prints the message of a /v2 error only
 * for a 4xx status (a 5xx becomes "received unexpected HTTP status: 507 …"), and retries every
 * code but DENIED, UNAUTHORIZED, UNSUPPORTED, TOOMANYREQUESTS and NAME_UNKNOWN: so 413 (the
 * content is larger than the server is able to store) with DENIED, which Docker shows as
 * `denied: storage is full: …` at once instead of re-sending the layer five times.
 */
export const STORAGE_FULL = {
  status: 413,
  message: 'storage is full: the registry has no space left to store this; try again when space is freed',
} as const;

/**
 * The /v2 error for an error of a layer below the registry, when it has one: a namespace's plan
 * that has no room for a new private repository is DENIED with the plan's message; a full disk
 * (blob storage or the metadata database) is STORAGE_FULL.
 */
export function registryErrorOf(err: unknown): RegistryError | undefined {
  if (err instanceof RegistryError) return err;
  if (err instanceof PlanLimitError) return new RegistryError('DENIED', { message: err.message });
  if (isOutOfSpace(err)) return new RegistryError('DENIED', { ...STORAGE_FULL });
  // The object store is down or failing: 503, which clients retry, rather than a bare 500.
  if (err instanceof StorageUnavailableError) {
    return new RegistryError('UNAVAILABLE', { message: 'blob storage is unavailable; try again later' });
  }
  if (isDatabaseUnavailable(err)) {
    return new RegistryError('UNAVAILABLE', { message: 'the metadata database is unreachable; try again shortly' });
  }
  return undefined;
}
