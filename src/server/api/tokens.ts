import type { AccessTokenInfo } from '../../hub/tokens.js';
import {
  createAccessToken,
  findAccessToken,
  listAccessTokens,
  revokeAccessToken,
  TOKEN_SCOPES,
  type TokenScope,
} from '../../hub/tokens.js';
import { auditBy, bodyOf, params, stringField } from './hub-common.js';
import { type ApiRoutes, apiFail, invalid, notFound, requireAccount, sendJson } from './plumbing.js';

const tokenJson = (t: AccessTokenInfo) => ({
  id: t.id,
  token_label: t.name,
  scope: t.scope,
  created_at: t.createdAt,
  expires_at: t.expiresAt,
  last_used: t.lastUsedAt,
  is_active: t.revokedAt === null && (t.expiresAt === null || t.expiresAt > new Date().toISOString()),
  revoked_at: t.revokedAt,
});

/** The caller's personal access tokens. Managing tokens needs the password or an admin-scoped token. */
export const tokenRoutes: ApiRoutes = (api, ctx) => {
  const doc = (method: 'get' | 'post' | 'delete', path: string, summary: string) =>
    ctx.openapi.add(method, path, { summary, tags: ['access-tokens'], auth: true });

  api.get('/access-tokens', async (req, reply) => {
    const { account } = await requireAccount(ctx, req, 'admin');
    const all = await listAccessTokens(ctx.db, account.id);
    sendJson(reply, { count: all.length, results: all.map(tokenJson) });
  });
  doc('get', '/access-tokens', "The caller's access tokens (never their secrets)");

  api.post('/access-tokens', async (req, reply) => {
    const caller = await requireAccount(ctx, req, 'admin');
    const body = bodyOf(req);
    const name = (stringField(body, 'token_label') ?? stringField(body, 'name') ?? '').trim();
    if (name === '' || name.length > 100) invalid('token_label is required (at most 100 characters)');
    const scope = (stringField(body, 'scope') ?? 'read-write') as TokenScope;
    if (!TOKEN_SCOPES.includes(scope)) invalid('scope must be read, read-write or admin');
    let expiresAt: string | null = null;
    const expires = body.expires_at;
    const days = body.expires_in_days;
    if (typeof expires === 'string') {
      const t = Date.parse(expires);
      if (Number.isNaN(t) || t <= Date.now()) invalid('expires_at must be a future ISO-8601 time');
      expiresAt = new Date(t).toISOString();
    } else if (days !== undefined) {
      if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > 3650)
        invalid('expires_in_days must be an integer from 1 to 3650');
      expiresAt = new Date(Date.now() + (days as number) * 86_400_000).toISOString();
    }
    const { token, secret } = await createAccessToken(ctx.db, caller.account.id, { name, scope, expiresAt });
    await auditBy(ctx, req, caller, {
      action: 'token.create',
      target: name,
      detail: { id: token.id, scope, expires_at: expiresAt },
    });
    // The secret is shown this once; only its hash is kept.
    sendJson(reply, { ...tokenJson(token), token: secret }, 201);
  });
  doc(
    'post',
    '/access-tokens',
    'Create a token: {"token_label","scope":"read"|"read-write"|"admin","expires_in_days"}; the secret is in the answer only',
  );

  api.get('/access-tokens/:id', async (req, reply) => {
    const { account } = await requireAccount(ctx, req, 'admin');
    const id = Number(params(req).id);
    const token = Number.isInteger(id) ? await findAccessToken(ctx.db, account.id, id) : undefined;
    if (!token) return notFound('access token');
    sendJson(reply, tokenJson(token));
  });
  doc('get', '/access-tokens/:id', "One of the caller's tokens");

  api.delete('/access-tokens/:id', async (req, reply) => {
    const caller = await requireAccount(ctx, req, 'admin');
    const id = Number(params(req).id);
    const token = Number.isInteger(id) ? await findAccessToken(ctx.db, caller.account.id, id) : undefined;
    if (!token) return notFound('access token');
    if (!(await revokeAccessToken(ctx.db, caller.account.id, id)))
      apiFail(409, 'CONFLICT', 'the token is already revoked');
    await auditBy(ctx, req, caller, { action: 'token.revoke', target: token.name, detail: { id } });
    reply.status(204).send();
  });
  doc('delete', '/access-tokens/:id', 'Revoke a token: it stops working at once, also for docker logins made with it');
};
