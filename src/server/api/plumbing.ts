import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { verifyAccessToken } from '../../hub/tokens.js';
import type { Account } from '../../metadata/accounts.js';
import type { MetadataDb } from '../../metadata/db.js';
import type { RegistryContext } from '../../registry/context.js';
import { RegistryError } from '../../registry/errors.js';
import type { PullThroughCache } from '../../registry/proxy/cache.js';
import type { TokenAuthDeps } from '../auth.js';
import type { Config } from '../config.js';
import { UNAVAILABLE_RETRY_AFTER, unavailableError } from '../errors.js';

// The hub API's shared plumbing (issue 6): one error shape, Docker Hub's page envelope, the
// caller, rate limiting and the OpenAPI document. Route modules (listed in ./index.ts) get an
// ApiContext and register plain fastify routes under /api.

// ---------------------------------------------------------------------------------------------
// Errors: `{"errors":[{"code","message"}]}`, the registry's envelope, so that one client parser
// reads both surfaces. Codes are UPPER_SNAKE (NOT_FOUND, DENIED, UNAUTHORIZED, INVALID, …).

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Throws an API error; `never` lets TypeScript narrow after it. */
export function apiFail(status: number, code: string, message: string, headers?: Record<string, string>): never {
  throw new ApiError(status, code, message, headers);
}

/** Unknown and forbidden look the same (404). */
export const notFound = (what = 'object'): never => apiFail(404, 'NOT_FOUND', `${what} not found`);
export const invalid = (message: string): never => apiFail(400, 'INVALID', message);

function sendError(reply: FastifyReply, status: number, code: string, message: string): void {
  reply
    .status(status)
    .header('Content-Type', 'application/json')
    .send(JSON.stringify({ errors: [{ code, message }] }));
}

function errorHandler(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
  if (reply.sent) return;
  if (err instanceof ApiError || err instanceof RegistryError) {
    for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
    sendError(reply, err.status, err.code, err.message);
    return;
  }
  const status = (err as { statusCode?: unknown } | undefined)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    sendError(reply, status, 'INVALID', (err as Error).message);
    return;
  }
  const down = unavailableError(err);
  if (down) {
    // PostgreSQL or the object store is briefly gone: clients retry a 503, a 500 looks like a bug.
    req.log.warn({ err }, 'api request failed: a service is unavailable');
    reply.header('Retry-After', UNAVAILABLE_RETRY_AFTER);
    sendError(reply, 503, 'UNAVAILABLE', down.message);
    return;
  }
  req.log.error({ err }, 'api request failed');
  sendError(reply, 500, 'UNKNOWN', 'internal error');
}

// ---------------------------------------------------------------------------------------------
// Pagination: `?page=1&page_size=25` (Docker Hub's), answered with {count, next, previous, results}.

export interface PageRequest {
  page: number;
  page_size: number;
}

export const DEFAULT_PAGE_SIZE = 25;
export const MAX_PAGE_SIZE = 100;

function intParam(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= min && n <= max)) invalid(`${name} must be an integer from ${min} to ${max}`);
  return n;
}

/** The page asked for, validated (400 on nonsense). */
export function paginate(query: unknown): PageRequest {
  const q = (query ?? {}) as Record<string, unknown>;
  return {
    page: intParam(q.page, 'page', 1, 1, 1_000_000),
    page_size: intParam(q.page_size, 'page_size', DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
  };
}

/** SQL offset of a page. */
export const offsetOf = (p: PageRequest): number => (p.page - 1) * p.page_size;

export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

/** Docker Hub's envelope; next/previous are absolute URLs of the same query with another page. */
export function pageOf<T>(req: FastifyRequest, p: PageRequest, count: number, results: T[]): Page<T> {
  const link = (page: number): string => {
    const url = new URL(req.url, `${req.protocol}://${req.headers.host ?? req.hostname}`);
    url.searchParams.set('page', String(page));
    url.searchParams.set('page_size', String(p.page_size));
    return url.toString();
  };
  return {
    count,
    next: p.page * p.page_size < count ? link(p.page + 1) : null,
    previous: p.page > 1 ? link(p.page - 1) : null,
    results,
  };
}

// ---------------------------------------------------------------------------------------------
// The caller.

/** What a credential lets the caller do: a password is `admin` (everything the account may). */
export type CallerScope = 'read' | 'read-write' | 'admin';

export interface Caller {
  account: Account;
  scope: CallerScope;
  /** How the caller authenticated. */
  via: 'password' | 'access-token';
}

/**
 * Verifies a personal access token (default: hub/tokens.ts verifyAccessToken). Returns undefined
 * for anything that is not a valid token.
 */
export type AccessTokenVerifier = (
  db: MetadataDb,
  secret: string,
) => Promise<{ account: Account; scope: CallerScope } | undefined>;

export interface ApiOptions {
  /**
   * Requests per window and per client address (limit 0: no limit); administrators signed in
   * with their password or an admin-scoped token pass when `exemptAdmins` (api.rate_limit_*).
   */
  rateLimit: { limit: number; windowMs: number; exemptAdmins?: boolean };
  verifyAccessToken?: AccessTokenVerifier;
}

export const DEFAULT_API_OPTIONS: ApiOptions = { rateLimit: { limit: 600, windowMs: 60_000 } };

/** Everything a route module works with. */
export interface ApiContext {
  db: MetadataDb;
  registry: RegistryContext;
  config: Config;
  /** Present in auth.mode token only: accounts, the access policy, the login throttle. */
  tokenDeps?: TokenAuthDeps;
  openapi: OpenApi;
  options: ApiOptions;
  /** The pull-through cache, when proxy.remotes are configured (a repository's origin). */
  proxy?: PullThroughCache | undefined;
}

const callers = new WeakMap<FastifyRequest, Promise<Caller | undefined>>();

const unauthorized = (message = 'authentication required'): never =>
  apiFail(401, 'UNAUTHORIZED', message, { 'WWW-Authenticate': 'Basic realm="wharf hub"' });

async function resolveCaller(ctx: ApiContext, req: FastifyRequest): Promise<Caller | undefined> {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const deps = ctx.tokenDeps;
  // Accounts exist only in auth.mode token: elsewhere the API is anonymous (read-only).
  if (!deps) return unauthorized('the hub API needs auth.mode token to sign in');
  const verifyToken = async (secret: string): Promise<Caller | undefined> => {
    const verify = ctx.options.verifyAccessToken ?? verifyAccessToken;
    const found = await verify(ctx.db, secret);
    return found ? { ...found, via: 'access-token' } : undefined;
  };
  if (/^bearer /i.test(header)) {
    // Access tokens only. Registry tokens (from /token) are for /v2: they do not carry the scope
    // of the access token they may have come from, and outlive its revocation.
    const byToken = await verifyToken(header.slice(7).trim());
    if (byToken) return byToken;
    return unauthorized('invalid token');
  }
  if (/^basic /i.test(header)) {
    const { basicCredentials } = await import('../auth.js');
    const { authenticate } = await import('../token.js');
    const creds = basicCredentials(req);
    if (!creds) return undefined;
    // An access token works as the password, as with docker login.
    const byToken = await verifyToken(creds.password);
    if (byToken && byToken.account.username === creds.username) return byToken;
    const account = await authenticate(deps, req, creds.username, creds.password);
    return { account, scope: 'admin', via: 'password' };
  }
  return unauthorized('unsupported authorization scheme');
}

/** The caller, or undefined when anonymous; bad credentials are a 401. Resolved once per request. */
export function callerOf(ctx: ApiContext, req: FastifyRequest): Promise<Caller | undefined> {
  let found = callers.get(req);
  if (!found) {
    found = resolveCaller(ctx, req);
    callers.set(req, found);
  }
  return found;
}

/**
 * The signed-in caller (401 otherwise). `need` is what the credential must allow: `read-write`
 * for changes, `admin` for deletes and permissions (a read-only access token gets 403).
 */
export async function requireAccount(
  ctx: ApiContext,
  req: FastifyRequest,
  need: CallerScope = 'read',
): Promise<Caller> {
  const caller = await callerOf(ctx, req);
  if (!caller) return unauthorized();
  const rank: Record<CallerScope, number> = { read: 0, 'read-write': 1, admin: 2 };
  if (rank[caller.scope] < rank[need])
    apiFail(403, 'DENIED', `this access token's scope (${caller.scope}) does not allow it`);
  return caller;
}

// ---------------------------------------------------------------------------------------------
// Rate limiting: a fixed window per caller, announced in X-RateLimit-* headers on every answer.

/** An administrator signed in with the password or an admin-scoped access token (bad credentials: no). */
async function isAdminCaller(ctx: ApiContext, req: FastifyRequest): Promise<boolean> {
  const caller = await callerOf(ctx, req).catch(() => undefined);
  return caller?.account.isAdmin === true && caller.scope === 'admin';
}

export class RateLimiter {
  private readonly windows = new Map<string, { start: number; used: number }>();
  constructor(private readonly opts: { limit: number; windowMs: number }) {}

  /** Counts one request; returns the headers and whether it is over the limit. */
  take(key: string, at = Date.now()): { allowed: boolean; headers: Record<string, string> } {
    let w = this.windows.get(key);
    if (!w || at - w.start >= this.opts.windowMs) {
      w = { start: at, used: 0 };
      this.windows.set(key, w);
      if (this.windows.size > 10_000) this.sweep(at);
    }
    w.used++;
    const reset = Math.ceil((w.start + this.opts.windowMs) / 1000);
    const headers = {
      'X-RateLimit-Limit': String(this.opts.limit),
      'X-RateLimit-Remaining': String(Math.max(0, this.opts.limit - w.used)),
      'X-RateLimit-Reset': String(reset),
    };
    return { allowed: w.used <= this.opts.limit, headers };
  }

  private sweep(at: number): void {
    for (const [k, w] of this.windows) if (at - w.start >= this.opts.windowMs) this.windows.delete(k);
  }
}

// ---------------------------------------------------------------------------------------------
// OpenAPI: each route module describes its operations; the document is served at /api/openapi.json.

export interface OpenApiOperation {
  summary: string;
  tags?: string[];
  parameters?: Array<{
    name: string;
    in: 'path' | 'query' | 'header';
    required?: boolean;
    description?: string;
    schema?: Record<string, unknown>;
  }>;
  requestBody?: Record<string, unknown>;
  /** Status → description (and optionally a schema); defaults to 200 OK. */
  responses?: Record<string, { description: string; content?: Record<string, unknown> }>;
  /** True when the operation needs a signed-in caller. */
  auth?: boolean;
}

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export class OpenApi {
  private readonly paths: Record<string, Partial<Record<Method, Record<string, unknown>>>> = {};
  readonly schemas: Record<string, unknown> = {};

  /** Registers one operation; `path` in fastify syntax (`/repositories/:namespace`) or OpenAPI's. */
  add(method: Method, path: string, op: OpenApiOperation): void {
    const oaPath = `/api${path.replace(/:([A-Za-z_]+)/g, '{$1}')}`;
    const params = [...oaPath.matchAll(/\{([A-Za-z_]+)\}/g)].map((m) => m[1] ?? '');
    const declared = new Set((op.parameters ?? []).map((p) => p.name));
    const parameters = [
      ...params
        .filter((p) => !declared.has(p))
        .map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
      ...(op.parameters ?? []),
    ];
    const entry: Record<string, unknown> = {
      summary: op.summary,
      ...(op.tags ? { tags: op.tags } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(op.requestBody ? { requestBody: op.requestBody } : {}),
      responses: op.responses ?? { '200': { description: 'OK' } },
      ...(op.auth ? { security: [{ basic: [] }, { bearer: [] }] } : {}),
    };
    this.paths[oaPath] = { ...this.paths[oaPath], [method]: entry };
  }

  document(): Record<string, unknown> {
    const sorted = Object.fromEntries(Object.entries(this.paths).sort(([a], [b]) => a.localeCompare(b)));
    return {
      openapi: '3.1.0',
      info: { title: 'Wharf hub API', version: '1' },
      paths: sorted,
      components: {
        securitySchemes: {
          basic: { type: 'http', scheme: 'basic', description: 'account and password, or account and access token' },
          bearer: { type: 'http', scheme: 'bearer', description: 'personal access token' },
        },
        schemas: {
          Error: {
            type: 'object',
            properties: {
              errors: {
                type: 'array',
                items: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
              },
            },
          },
          ...this.schemas,
        },
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Sending.

/** Sends a JSON body (status 200 unless given). */
export function sendJson(reply: FastifyReply, body: unknown, status = 200): void {
  reply.status(status).header('Content-Type', 'application/json').send(JSON.stringify(body));
}

/** A route module: registers its routes (paths relative to /api) and describes them in ctx.openapi. */
export type ApiRoutes = (api: FastifyInstance, ctx: ApiContext) => Promise<void> | void;

/** The /api plugin: error handler, rate limiting, /api/openapi.json, then every module. */
export async function mountApi(api: FastifyInstance, ctx: ApiContext, modules: ApiRoutes[]): Promise<void> {
  api.setErrorHandler(errorHandler);
  api.setNotFoundHandler((_req, reply) => sendError(reply, 404, 'NOT_FOUND', 'no such API endpoint'));
  const limiter = new RateLimiter(ctx.options.rateLimit);
  api.addHook('onRequest', async (req, reply) => {
    if (ctx.options.rateLimit.limit === 0) return;
    // Keyed by address: a name in unverified credentials would let anyone use up another
    // account's allowance, and made-up names would dodge the limit.
    const { allowed, headers } = limiter.take(`addr:${req.ip}`);
    for (const [k, v] of Object.entries(headers)) reply.header(k, v);
    // Credentials are checked only once over the limit: requests within it cost nothing more.
    if (!allowed && !(ctx.options.rateLimit.exemptAdmins && (await isAdminCaller(ctx, req)))) {
      reply.header(
        'Retry-After',
        String(Math.max(1, Number(headers['X-RateLimit-Reset']) - Math.floor(Date.now() / 1000))),
      );
      sendError(reply, 429, 'TOOMANYREQUESTS', 'rate limit exceeded, try again later');
      return reply;
    }
  });
  // Every change (POST/PUT/PATCH/DELETE) is declared application/json, with a body or without:
  // a cross-site page can send a form (urlencoded, multipart, text/plain) or a body-less POST
  // with a browser's remembered credentials, but never application/json without a CORS preflight.
  api.addHook('onRequest', async (req, reply) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return;
    const type = req.headers['content-type'];
    if (type === undefined || !/^application\/json\s*(;|$)/i.test(type)) {
      sendError(reply, 415, 'UNSUPPORTED_MEDIA_TYPE', 'changes are sent as application/json');
      return reply;
    }
  });
  // So application/json with no body at all (`POST …/star`) is allowed: it parses to undefined.
  const parseJson = api.getDefaultJsonParser('error', 'error');
  api.removeContentTypeParser('application/json');
  api.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body.toString();
    if (text === '') done(null, undefined);
    else parseJson(req, text, done);
  });
  api.get('/openapi.json', async (_req, reply) => sendJson(reply, ctx.openapi.document()));
  for (const routes of modules) await routes(api, ctx);
}
