import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { MetadataDb } from '../metadata/db.js';
import type { CatalogReader } from '../metadata/repositories.js';
import { searchRepositories } from '../metadata/search.js';
import { RegistryError } from '../registry/errors.js';
import type { TokenAuthDeps } from './auth.js';
import type { Authorizer } from './authorizer.js';
import { UNAVAILABLE_RETRY_AFTER, unavailableError } from './errors.js';

// The v1 index endpoints that `docker search HOST/TERM` uses (hub-and-engine.md §1.1):
// GET /v1/_ping, then GET /v1/search?q=&n=. Errors of this surface are v1's `{"error": "…"}`
// (the Docker daemon only reports the status code).

export const SEARCH_DEFAULT_LIMIT = 25;
export const SEARCH_MAX_LIMIT = 100;
/** Longest query accepted: the longest repository name. */
export const SEARCH_MAX_QUERY = 255;

export interface SearchDeps {
  db: MetadataDb;
  authorizer: Authorizer;
  /** Present in auth.mode token: Basic credentials are then checked against the accounts. */
  tokenDeps?: TokenAuthDeps;
}

/** A bad search request (400). */
class SearchRequestError extends Error {}

function integerParam(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const value = query.get(name);
  if (value === null || value === '') return fallback;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= min && n <= max)) {
    throw new SearchRequestError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * Whose view of the repositories a search request gets:
 * - no access control (auth.mode none): everything;
 * - token mode: anonymous callers see public repositories; a Bearer token from /token or Basic
 *   credentials (account and password) add what that account may pull. Docker sends Basic when
 *   the user logged in with a password, a Bearer token when it holds an identity token;
 * - htpasswd mode: any valid user sees everything, as with /v2.
 */
async function readerOf(deps: SearchDeps, req: FastifyRequest): Promise<CatalogReader> {
  const header = req.headers.authorization;
  if (deps.tokenDeps) {
    const tokenDeps = deps.tokenDeps;
    if (header === undefined || header === '') return tokenDeps.policy.catalogReader(undefined);
    if (/^basic /i.test(header)) {
      // Loaded only here: a server without access control never loads the auth modules.
      const { basicCredentials } = await import('./auth.js');
      const { authenticate } = await import('./token.js');
      const creds = basicCredentials(req);
      if (!creds) return tokenDeps.policy.catalogReader(undefined);
      return tokenDeps.policy.catalogReader(await authenticate(tokenDeps, req, creds.username, creds.password));
    }
  }
  return (await deps.authorizer.check(req, { kind: 'base' })).catalog();
}

function sendError(reply: FastifyReply, status: number, message: string, headers: Record<string, string> = {}) {
  for (const [name, value] of Object.entries(headers)) reply.header(name, value);
  reply
    .status(status)
    .header('Content-Type', 'application/json')
    .send(JSON.stringify({ error: message }));
}

export async function searchRoutes(app: FastifyInstance, deps: SearchDeps): Promise<void> {
  app.setErrorHandler((err, req, reply) => {
    if (err instanceof SearchRequestError) return sendError(reply, 400, err.message);
    if (err instanceof RegistryError) return sendError(reply, err.status, err.message, { ...err.headers });
    const down = unavailableError(err);
    if (down) return sendError(reply, 503, down.message, { 'Retry-After': UNAVAILABLE_RETRY_AFTER });
    req.log.error({ err }, 'search failed');
    return sendError(reply, 500, 'internal error');
  });

  // The daemon's v1 ping (it ignores the status). Standalone: this index does its own
  // authentication, so over HTTPS a logged-in daemon sends Basic credentials with every request.
  app.get('/v1/_ping', async (_req, reply) => {
    reply
      .header('X-Docker-Registry-Standalone', 'true')
      .header('Content-Type', 'application/json')
      .send('{"standalone":true}');
  });

  app.get('/v1/search', async (req, reply) => {
    const url = req.raw.url ?? '';
    const mark = url.indexOf('?');
    const query = new URLSearchParams(mark < 0 ? '' : url.slice(mark + 1));
    const text = query.get('q') ?? '';
    if (text.length > SEARCH_MAX_QUERY) {
      throw new SearchRequestError(`search query is longer than ${SEARCH_MAX_QUERY} characters`);
    }
    const n = integerParam(query, 'n', SEARCH_DEFAULT_LIMIT, 1, SEARCH_MAX_LIMIT);
    const page = integerParam(query, 'page', 1, 1, 1_000_000);
    const reader = await readerOf(deps, req);
    const found = await searchRepositories(deps.db, { text, reader, limit: n, offset: (page - 1) * n });
    const body = {
      query: text,
      num_results: found.total,
      num_pages: Math.ceil(found.total / n),
      page,
      page_size: n,
      // An official `library/x` is listed as `x` (pulled as `x` too); stars, descriptions and the
      // official mark are the hub's.
      results: found.hits.map((h) => ({
        name: h.displayName,
        description: h.description,
        star_count: h.starCount,
        is_official: h.isOfficial,
        is_automated: false,
      })),
    };
    reply.header('Content-Type', 'application/json').send(JSON.stringify(body));
  });
}
