// Errors of the metadata database that callers tell apart, for either dialect.

/** SQLSTATE classes and codes of a PostgreSQL that is gone or going: connection exceptions (08…), shutdowns (57P01–57P03). */
const PG_UNAVAILABLE = /^(08...|57P0[123])$/;
const NODE_UNAVAILABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);

/**
 * The metadata database (PostgreSQL) cannot be reached right now: refused or broken connection,
 * connect timeout, server shutting down. A retry later may succeed (503), unlike a bad query.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; syscall?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (PG_UNAVAILABLE.test(code) || NODE_UNAVAILABLE.has(code)) return true;
  // A socket directory without its socket (PostgreSQL stopped); not a missing file of the storage.
  if (code === 'ENOENT' && e?.syscall === 'connect') return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  // pg's own wording for a connection it lost or could not open in time.
  return /^Connection terminated|timeout exceeded when trying to connect/.test(message);
}
