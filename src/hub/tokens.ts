import { createHash, randomBytes } from 'node:crypto';
import { type Account, findAccountById } from '../metadata/accounts.js';
import { type MetadataDb, now } from '../metadata/db.js';

/** Personal access tokens: a secret shown once, only its sha256 kept. */
export type TokenScope = 'read' | 'read-write' | 'admin';
export const TOKEN_SCOPES: readonly TokenScope[] = ['read', 'read-write', 'admin'];

/** Recognizable in logs and secret scanners, as Docker Hub's `dckr_pat_`. */
export const TOKEN_PREFIX = 'wharf_pat_';

export interface AccessTokenInfo {
  id: number;
  name: string;
  scope: TokenScope;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export const isAccessTokenSecret = (s: string): boolean => s.startsWith(TOKEN_PREFIX);

const hashOf = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/** Registry actions a token's scope allows: read → pull; read-write → pull, push; admin → also delete. */
export function scopeActions(scope: TokenScope): string[] {
  if (scope === 'read') return ['pull'];
  if (scope === 'read-write') return ['pull', 'push'];
  return ['pull', 'push', 'delete'];
}

export async function createAccessToken(
  db: MetadataDb,
  accountId: number,
  options: { name: string; scope: TokenScope; expiresAt?: string | null },
): Promise<{ token: AccessTokenInfo; secret: string }> {
  const secret = TOKEN_PREFIX + randomBytes(30).toString('base64url');
  const createdAt = now();
  const result = await db
    .insertInto('access_tokens')
    .values({
      account_id: accountId,
      name: options.name,
      token_hash: hashOf(secret),
      scope: options.scope,
      created_at: createdAt,
      expires_at: options.expiresAt ?? null,
      last_used_at: null,
      revoked_at: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return {
    secret,
    token: {
      id: result.id,
      name: options.name,
      scope: options.scope,
      createdAt,
      expiresAt: options.expiresAt ?? null,
      lastUsedAt: null,
      revokedAt: null,
    },
  };
}

const infoColumns = [
  'id',
  'name',
  'scope',
  'created_at as createdAt',
  'expires_at as expiresAt',
  'last_used_at as lastUsedAt',
  'revoked_at as revokedAt',
] as const;

export async function listAccessTokens(db: MetadataDb, accountId: number): Promise<AccessTokenInfo[]> {
  return db.selectFrom('access_tokens').select(infoColumns).where('account_id', '=', accountId).orderBy('id').execute();
}

export async function findAccessToken(
  db: MetadataDb,
  accountId: number,
  id: number,
): Promise<AccessTokenInfo | undefined> {
  return db
    .selectFrom('access_tokens')
    .select(infoColumns)
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .executeTakeFirst();
}

/** Revokes one of the account's tokens; false when there is no such (live) token. */
export async function revokeAccessToken(db: MetadataDb, accountId: number, id: number): Promise<boolean> {
  const result = await db
    .updateTable('access_tokens')
    .set({ revoked_at: now() })
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** A live token by id (used again when a refresh token born from it is presented). */
async function liveToken(db: MetadataDb, where: { id: number } | { hash: string }) {
  let q = db
    .selectFrom('access_tokens')
    .select(['id', 'account_id', 'scope', 'expires_at'])
    .where('revoked_at', 'is', null);
  q = 'id' in where ? q.where('id', '=', where.id) : q.where('token_hash', '=', where.hash);
  const row = await q.executeTakeFirst();
  if (!row) return undefined;
  if (row.expires_at !== null && row.expires_at <= now()) return undefined;
  const account = await findAccountById(db, row.account_id);
  if (!account || account.disabled) return undefined;
  await db.updateTable('access_tokens').set({ last_used_at: now() }).where('id', '=', row.id).execute();
  return { account, scope: row.scope, tokenId: row.id };
}

export interface VerifiedAccessToken {
  account: Account;
  scope: TokenScope;
  tokenId: number;
}

/** The account and scope of a secret, or undefined (unknown, revoked, expired, disabled account). */
export async function verifyAccessToken(db: MetadataDb, secret: string): Promise<VerifiedAccessToken | undefined> {
  if (!isAccessTokenSecret(secret)) return undefined;
  return liveToken(db, { hash: hashOf(secret) });
}

/** The same, by id: a refresh token issued on a token login lives only as long as the token. */
export async function verifyAccessTokenId(db: MetadataDb, id: number): Promise<VerifiedAccessToken | undefined> {
  return liveToken(db, { id });
}
