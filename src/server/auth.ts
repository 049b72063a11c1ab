import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessPolicy } from '../auth/access.js';
import type { Htpasswd } from '../auth/htpasswd.js';
import { spendVerifyTime, verifyPassword } from '../auth/passwords.js';
import { formatScope, hasAccess, parseScopes, type ResourceAccess } from '../auth/scope.js';
import type { LoginThrottle } from '../auth/throttle.js';
import { newRefreshToken, refreshTokenId, type TokenService } from '../auth/tokens.js';
import {
  type Account,
  findAccount,
  findAccountById,
  findRefreshToken,
  storeRefreshToken,
} from '../metadata/accounts.js';
import type { MetadataDb } from '../metadata/db.js';
import type { CatalogReader } from '../metadata/repositories.js';
import { fail } from '../registry/errors.js';
import { registryErrorHandler } from './errors.js';

/** What a /v2 request needs: just being let in, the catalog, or actions on a repository. */
export type Need = { kind: 'base' } | { kind: 'catalog' } | { kind: 'repository'; name: string; actions: string[] };

/** Who is asking, as far as the registry cares. */
export interface Principal {
  /** The account name, '' when anonymous. */
  subject: string;
  /** May the caller read `name`? Checked before a cross-repository mount. */
  canPull(name: string): Promise<boolean>;
  /** Which repositories the catalog shows to the caller. */
  catalog(): Promise<CatalogReader>;
}

export interface Authorizer {
  /** The principal, or an UNAUTHORIZED error carrying the challenge the client needs. */
  check(req: FastifyRequest, need: Need): Promise<Principal>;
}

const everyone: Principal = {
  subject: '',
  canPull: async () => true,
  catalog: async () => ({ all: true }),
};

/** auth.mode none: like registry:2 without auth, anyone may do anything. */
export const openAuthorizer: Authorizer = { check: async () => everyone };

function basicCredentials(req: FastifyRequest): { username: string; password: string } | undefined {
  const header = req.headers.authorization;
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  // `Basic Og==` (":"): what containers/image (skopeo, podman) sends when it has no credentials.
  // That is an anonymous request, not a failed login: counting it would throttle the whole address.
  if (colon === 0 && decoded.length === 1) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

const throttleKeys = (username: string, req: FastifyRequest) => [`account:${username}`, `addr:${req.ip}`];

function checkThrottle(throttle: LoginThrottle, keys: string[]): void {
  const wait = throttle.retryAfter(keys);
  if (wait !== undefined) {
    fail('TOOMANYREQUESTS', {
      message: 'too many failed login attempts, try again later',
      headers: { 'Retry-After': String(wait) },
    });
  }
}

/** auth.mode htpasswd: Basic auth against the file; any valid user may do anything, as in Distribution. */
export function htpasswdAuthorizer(file: Htpasswd, throttle: LoginThrottle, realm = 'wharf'): Authorizer {
  const challenge = { 'WWW-Authenticate': `Basic realm="${realm}"` };
  return {
    async check(req) {
      const creds = basicCredentials(req);
      if (!creds) fail('UNAUTHORIZED', { headers: challenge });
      const keys = throttleKeys(creds.username, req);
      checkThrottle(throttle, keys);
      if (!(await file.verify(creds.username, creds.password))) {
        throttle.failure(keys);
        fail('UNAUTHORIZED', { message: 'incorrect username or password', headers: challenge });
      }
      throttle.success(keys);
      return { ...everyone, subject: creds.username };
    },
  };
}

export interface TokenAuthDeps {
  db: MetadataDb;
  tokens: TokenService;
  policy: AccessPolicy;
  throttle: LoginThrottle;
  service: string;
  /** Fixed realm URL, or '' to derive it from the request. */
  realm: string;
  refreshTtlMs: number;
}

function realmOf(deps: TokenAuthDeps, req: FastifyRequest): string {
  if (deps.realm) return deps.realm;
  const host = req.headers.host ?? `${req.hostname}`;
  return `${req.protocol}://${host}/token`;
}

/** auth.mode token: Docker's bearer-token flow; what a request may do is in its token. */
export function tokenAuthorizer(deps: TokenAuthDeps): Authorizer {
  const accountOf = async (subject: string): Promise<Account | undefined> =>
    subject === '' ? undefined : findAccount(deps.db, subject);
  return {
    async check(req, need) {
      const header = req.headers.authorization;
      const wanted: ResourceAccess | undefined =
        need.kind === 'repository'
          ? { type: 'repository', name: need.name, actions: need.actions }
          : need.kind === 'catalog'
            ? { type: 'registry', name: 'catalog', actions: ['*'] }
            : undefined;
      const challenge = (error?: 'invalid_token' | 'insufficient_scope') => {
        let value = `Bearer realm="${realmOf(deps, req)}",service="${deps.service}"`;
        if (wanted) value += `,scope="${formatScope(wanted)}"`;
        if (error) value += `,error="${error}"`;
        const detail = wanted?.actions.map((a) => ({ Type: wanted.type, Class: '', Name: wanted.name, Action: a }));
        return fail('UNAUTHORIZED', { headers: { 'WWW-Authenticate': value }, ...(detail ? { detail } : {}) });
      };
      if (!header?.startsWith('Bearer ')) return challenge();
      let verified: Awaited<ReturnType<TokenService['verify']>>;
      try {
        verified = await deps.tokens.verify(header.slice(7).trim());
      } catch {
        return challenge('invalid_token');
      }
      if (wanted && !wanted.actions.every((a) => hasAccess(verified.access, wanted.type, wanted.name, a))) {
        return challenge('insufficient_scope');
      }
      return {
        subject: verified.subject,
        canPull: async (name) => hasAccess(verified.access, 'repository', name, 'pull'),
        catalog: async () => deps.policy.catalogReader(await accountOf(verified.subject)),
      };
    },
  };
}

/** Checks a username and password against the accounts, with throttling; the same answer for every failure. */
async function authenticate(
  deps: TokenAuthDeps,
  req: FastifyRequest,
  username: string,
  password: string,
): Promise<Account> {
  const keys = throttleKeys(username, req);
  checkThrottle(deps.throttle, keys);
  const account = await findAccount(deps.db, username);
  let ok = false;
  if (account) ok = (await verifyPassword(account.passwordHash, password)) && !account.disabled;
  else await spendVerifyTime(password);
  if (!ok || !account) {
    deps.throttle.failure(keys);
    fail('UNAUTHORIZED', { message: 'incorrect username or password' });
  }
  deps.throttle.success(keys);
  return account;
}

/** The token endpoint (GET as Docker uses it, POST in the OAuth2 form) and the JWKS. */
export async function tokenRoutes(app: FastifyInstance, deps: TokenAuthDeps): Promise<void> {
  app.setErrorHandler(registryErrorHandler);
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 64 * 1024 },
    (_req, body, done) => done(null, new URLSearchParams(body as string)),
  );

  const respond = async (
    reply: FastifyReply,
    account: Account | undefined,
    scopes: string[],
    offline: { clientId: string } | undefined,
    oauth: boolean,
  ) => {
    const requested = parseScopes(scopes);
    const granted = await deps.policy.grant(account, requested);
    const issued = await deps.tokens.issue(account?.username ?? '', granted);
    const body: Record<string, unknown> = oauth
      ? { access_token: issued.token, scope: granted.map(formatScope).join(' ') }
      : { token: issued.token, access_token: issued.token };
    body.expires_in = issued.expiresIn;
    body.issued_at = issued.issuedAt;
    if (offline && account) {
      const refresh = newRefreshToken();
      await storeRefreshToken(deps.db, {
        id: refresh.id,
        accountId: account.id,
        clientId: offline.clientId,
        expiresAt: new Date(Date.now() + deps.refreshTtlMs).toISOString(),
      });
      body.refresh_token = refresh.token;
    }
    reply.header('Cache-Control', 'no-store').header('Content-Type', 'application/json').send(JSON.stringify(body));
  };

  app.get('/token', async (req, reply) => {
    const query = new URLSearchParams((req.raw.url ?? '').split('?')[1] ?? '');
    const creds = basicCredentials(req);
    const account = creds ? await authenticate(deps, req, creds.username, creds.password) : undefined;
    const offline = query.get('offline_token') === 'true' ? { clientId: query.get('client_id') ?? '' } : undefined;
    await respond(reply, account, query.getAll('scope'), offline, false);
  });

  app.post('/token', async (req, reply) => {
    const form = req.body instanceof URLSearchParams ? req.body : new URLSearchParams();
    const grantType = form.get('grant_type');
    let account: Account | undefined;
    if (grantType === 'password') {
      account = await authenticate(deps, req, form.get('username') ?? '', form.get('password') ?? '');
    } else if (grantType === 'refresh_token') {
      const id = refreshTokenId(form.get('refresh_token') ?? '');
      const accountId = await findRefreshToken(deps.db, id);
      account = accountId === undefined ? undefined : await findAccountById(deps.db, accountId);
      if (!account || account.disabled) fail('UNAUTHORIZED', { message: 'invalid or expired refresh token' });
    } else {
      fail('UNSUPPORTED', { status: 400, message: 'grant_type must be password or refresh_token' });
    }
    const offline = form.get('access_type') === 'offline' ? { clientId: form.get('client_id') ?? '' } : undefined;
    const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
    await respond(reply, account, scopes, offline, true);
  });

  app.get('/token/jwks', async (_req, reply) => {
    reply.header('Content-Type', 'application/json').send(JSON.stringify(deps.tokens.jwks()));
  });
}
