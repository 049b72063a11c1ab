// Errors of the registry client, rendered the way the Docker client renders them
// (distribution's registry/api/errcode and registry/client/errors.go): one registry error
// is `lower(code with _ → space): message`, e.g. `unauthorized: incorrect username or password`;
// several are listed after `errors:`, one a line.

/** One entry of the OCI error envelope `{"errors":[{"code","message","detail"}]}`. */
export interface RegistryErrorEntry {
  code: string;
  message: string;
  detail?: unknown;
}

/** Default messages of the codes, for entries that come without one (distribution's errcode catalog). */
const DEFAULT_MESSAGES: Readonly<Record<string, string>> = {
  UNKNOWN: 'unknown error',
  UNSUPPORTED: 'The operation is unsupported.',
  UNAUTHORIZED: 'authentication required',
  DENIED: 'requested access to the resource is denied',
  UNAVAILABLE: 'service unavailable',
  TOOMANYREQUESTS: 'too many requests',
  DIGEST_INVALID: 'provided digest did not match uploaded content',
  SIZE_INVALID: 'provided length did not match content length',
  RANGE_INVALID: 'invalid content range',
  NAME_INVALID: 'invalid repository name',
  TAG_INVALID: 'manifest tag did not match URI',
  NAME_UNKNOWN: 'repository name not known to registry',
  MANIFEST_UNKNOWN: 'manifest unknown',
  MANIFEST_INVALID: 'manifest invalid',
  MANIFEST_BLOB_UNKNOWN: 'blob unknown to registry',
  BLOB_UNKNOWN: 'blob unknown to registry',
  BLOB_UPLOAD_UNKNOWN: 'blob upload unknown to registry',
  BLOB_UPLOAD_INVALID: 'blob upload invalid',
};

export function defaultMessage(code: string): string {
  return DEFAULT_MESSAGES[code] ?? code.toLowerCase().replaceAll('_', ' ');
}

/** Docker's rendering of one registry error: `lower(code with _→space): message`. */
export function renderEntry(entry: RegistryErrorEntry): string {
  return `${entry.code.toLowerCase().replaceAll('_', ' ')}: ${entry.message}`;
}

/** Docker's rendering of a list of registry errors (errcode.Errors.Error()). */
export function renderEntries(entries: readonly RegistryErrorEntry[]): string {
  if (entries.length === 0) return '<nil>';
  if (entries.length === 1) return renderEntry(entries[0] as RegistryErrorEntry);
  return `errors:\n${entries.map((e) => `${renderEntry(e)}\n`).join('')}`;
}

export interface RegistryClientErrorOptions {
  /** HTTP status of the answer that carried the error, when there was one. */
  status?: number;
  /** The registry errors of the answer (empty for transport or client-side errors). */
  errors?: RegistryErrorEntry[];
  cause?: unknown;
}

/** Any failure of a registry operation: an error answer (with its status), a transport failure, bad content. */
export class RegistryClientError extends Error {
  override readonly name: string = 'RegistryClientError';
  readonly status: number | undefined;
  readonly errors: readonly RegistryErrorEntry[];

  constructor(message: string, options: RegistryClientErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.errors = options.errors ?? [];
  }

  /** The first registry error code (`UNAUTHORIZED`, `MANIFEST_UNKNOWN`…), if the answer had one. */
  get code(): string | undefined {
    return this.errors[0]?.code;
  }
}

/** Content whose digest is not the one asked for (a blob, or a manifest). Nothing should keep it. */
export class DigestMismatchError extends RegistryClientError {
  override readonly name: string = 'DigestMismatchError';

  constructor(
    readonly expected: string,
    readonly actual: string,
    what: 'blob' | 'manifest' = 'blob',
  ) {
    // Docker's wording: "filesystem layer verification failed for digest …".
    super(
      what === 'blob'
        ? `filesystem layer verification failed for digest ${expected}`
        : `manifest verification failed for digest ${expected}`,
    );
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The registry errors of an error body: the OCI envelope, or the older `{"details": "…"}` shape
 * (mapped like Docker: UNAUTHORIZED for 401, TOOMANYREQUESTS for 429, UNKNOWN otherwise).
 * Undefined when the body is neither.
 */
export function parseErrorBody(status: number, body: string): RegistryErrorEntry[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed)) return undefined;
  if (typeof parsed.details === 'string' && parsed.details !== '') {
    const code = status === 401 ? 'UNAUTHORIZED' : status === 429 ? 'TOOMANYREQUESTS' : 'UNKNOWN';
    return [{ code, message: parsed.details }];
  }
  if (!Array.isArray(parsed.errors)) return undefined;
  const entries: RegistryErrorEntry[] = [];
  for (const e of parsed.errors) {
    if (!isRecord(e)) continue;
    const code = typeof e.code === 'string' && e.code !== '' ? e.code.toUpperCase() : 'UNKNOWN';
    const message = typeof e.message === 'string' && e.message !== '' ? e.message : defaultMessage(code);
    entries.push(e.detail === undefined ? { code, message } : { code, message, detail: e.detail });
  }
  return entries.length > 0 ? entries : undefined;
}

/** Reason phrases for the statuses a registry answers with (Go's http.StatusText). */
const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Request Entity Too Large',
  416: 'Requested Range Not Satisfiable',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function statusText(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? ''}`.trimEnd();
}

/**
 * The error for an unexpected answer, as Docker builds it (client.HandleErrorResponse):
 * for 4xx, a Bearer challenge's `error="insufficient_scope"` or `"invalid_token"` comes first,
 * then the body's registry errors; a 401 without a readable body is `unauthorized: authentication required`;
 * anything else is `received unexpected HTTP status: 500 Internal Server Error`.
 */
export function errorFromAnswer(
  status: number,
  body: string,
  challengeError?: { error: string; description?: string },
): RegistryClientError {
  const fromBody = parseErrorBody(status, body);
  if (status >= 400 && status < 500) {
    const entries: RegistryErrorEntry[] = [];
    if (challengeError) {
      const code =
        challengeError.error === 'insufficient_scope'
          ? 'DENIED'
          : challengeError.error === 'invalid_token'
            ? 'UNAUTHORIZED'
            : undefined;
      if (code) entries.push({ code, message: challengeError.description || defaultMessage(code) });
    }
    if (fromBody) entries.push(...fromBody);
    if (entries.length === 0 && status === 401)
      entries.push({ code: 'UNAUTHORIZED', message: 'authentication required' });
    if (entries.length > 0) return new RegistryClientError(renderEntries(entries), { status, errors: entries });
  } else if (fromBody) {
    return new RegistryClientError(renderEntries(fromBody), { status, errors: fromBody });
  }
  return new RegistryClientError(`received unexpected HTTP status: ${statusText(status)}`, { status });
}
