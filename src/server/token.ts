import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { spendVerifyTime, verifyPassword } from '../auth/passwords.js';
import { formatScope, parseScopes, type ResourceAccess } from '../auth/scope.js';
import { newRefreshToken, refreshTokenId } from '../auth/tokens.js';
import { audit } from '../hub/audit.js';
import {
  isAccessTokenSecret,
  scopeActions,
  type TokenScope,
  verifyAccessToken,
  verifyAccessTokenId,
} from '../hub/tokens.js';
import {
  type Account,
  findAccount,
  findAccountById,
  findRefreshToken,
  storeRefreshToken,
} from '../metadata/accounts.js';
import { fail } from '../registry/errors.js';
import { basicCredentials, checkThrottle, type TokenAuthDeps, throttleKeys } from './auth.js';
import { registryErrorHandler } from './errors.js';

/** Who signed in, and with what: an access token limits the actions to its scope. */
export interface Credential {
  account: Account;
  /** Set when the password was a personal access token. */
  accessToken?: { id: number; scope: TokenScope };
}

/**
 * Checks a username and password (or personal access token as the password) against the
 * accounts, with throttling; the same answer for every failure.
 */
export async function authenticateCredential(
  deps: TokenAuthDeps,
  req: FastifyRequest,
  username: string,
  password: string,
): Promise<Credential> {
  const keys = throttleKeys(username, req);
  await checkThrottle(deps.throttle, keys);
  if (isAccessTokenSecret(password)) {
    const verified = await verifyAccessToken(deps.db, password);
    if (verified && verified.account.username === username) {
      await deps.throttle.success(keys);
      return { account: verified.account, accessToken: { id: verified.tokenId, scope: verified.scope } };
    }
  }
  const account = await findAccount(deps.db, username);
  let ok = false;
  if (account) ok = (await verifyPassword(account.passwordHash, password)) && !account.disabled;
  else await spendVerifyTime(password);
  if (!ok || !account) {
    await deps.throttle.failure(keys);
    await audit(deps.db, {
      action: 'login.failed',
      accountId: account?.id ?? null,
      target: username,
      ip: req.ip,
    });
    fail('UNAUTHORIZED', { message: 'incorrect username or password' });
  }
  await deps.throttle.success(keys);
  return { account };
}

/** authenticateCredential for callers that only need the account. */
export async function authenticate(
  deps: TokenAuthDeps,
  req: FastifyRequest,
  username: string,
  password: string,
): Promise<Account> {
  return (await authenticateCredential(deps, req, username, password)).account;
}

/** Narrows what the policy granted to what an access token's scope allows. */
function withinScope(granted: ResourceAccess[], scope: TokenScope | undefined): ResourceAccess[] {
  if (!scope) return granted;
  const allowed = new Set(scopeActions(scope));
  return granted
    .map((g) => (g.type === 'repository' ? { ...g, actions: g.actions.filter((a) => allowed.has(a)) } : g))
    .filter((g) => g.actions.length > 0);
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
    credential: Credential | undefined,
    scopes: string[],
    offline: { clientId: string } | undefined,
    oauth: boolean,
  ) => {
    const account = credential?.account;
    const requested = parseScopes(scopes);
    const granted = withinScope(await deps.policy.grant(account, requested), credential?.accessToken?.scope);
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
        ...(credential?.accessToken ? { accessTokenId: credential.accessToken.id } : {}),
      });
      body.refresh_token = refresh.token;
    }
    reply.header('Cache-Control', 'no-store').header('Content-Type', 'application/json').send(JSON.stringify(body));
  };

  const login = async (req: FastifyRequest, username: string, password: string, via: string) => {
    const credential = await authenticateCredential(deps, req, username, password);
    await audit(deps.db, {
      action: 'login',
      accountId: credential.account.id,
      target: username,
      detail: { via, ...(credential.accessToken ? { access_token_id: credential.accessToken.id } : {}) },
      ip: req.ip,
    });
    return credential;
  };

  app.get('/token', async (req, reply) => {
    const query = new URLSearchParams((req.raw.url ?? '').split('?')[1] ?? '');
    const creds = basicCredentials(req);
    const credential = creds ? await login(req, creds.username, creds.password, 'basic') : undefined;
    const offline = query.get('offline_token') === 'true' ? { clientId: query.get('client_id') ?? '' } : undefined;
    await respond(reply, credential, query.getAll('scope'), offline, false);
  });

  app.post('/token', async (req, reply) => {
    const form = req.body instanceof URLSearchParams ? req.body : new URLSearchParams();
    const grantType = form.get('grant_type');
    let credential: Credential | undefined;
    if (grantType === 'password') {
      credential = await login(req, form.get('username') ?? '', form.get('password') ?? '', 'password');
    } else if (grantType === 'refresh_token') {
      credential = await refreshed(deps, form.get('refresh_token') ?? '');
      if (!credential) fail('UNAUTHORIZED', { message: 'invalid or expired refresh token' });
    } else {
      fail('UNSUPPORTED', { status: 400, message: 'grant_type must be password or refresh_token' });
    }
    const offline = form.get('access_type') === 'offline' ? { clientId: form.get('client_id') ?? '' } : undefined;
    const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
    await respond(reply, credential, scopes, offline, true);
  });

  app.get('/token/jwks', async (_req, reply) => {
    reply.header('Content-Type', 'application/json').send(JSON.stringify(await deps.tokens.jwks()));
  });
}

/** The credential behind a refresh token; one born from an access token dies with it. */
async function refreshed(deps: TokenAuthDeps, token: string): Promise<Credential | undefined> {
  const found = await findRefreshToken(deps.db, refreshTokenId(token));
  if (!found) return undefined;
  if (found.accessTokenId !== null) {
    const verified = await verifyAccessTokenId(deps.db, found.accessTokenId);
    if (!verified || verified.account.id !== found.accountId) return undefined;
    return { account: verified.account, accessToken: { id: verified.tokenId, scope: verified.scope } };
  }
  const account = await findAccountById(deps.db, found.accountId);
  return account && !account.disabled ? { account } : undefined;
}
