import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { spendVerifyTime, verifyPassword } from '../auth/passwords.js';
import { formatScope, parseScopes } from '../auth/scope.js';
import { newRefreshToken, refreshTokenId } from '../auth/tokens.js';
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

/** Checks a username and password against the accounts, with throttling; the same answer for every failure. */
export async function authenticate(
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
