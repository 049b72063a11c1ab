import { type MetadataDb, now } from './db.js';

export interface Account {
  id: number;
  username: string;
  passwordHash: string;
  isAdmin: boolean;
  disabled: boolean;
  createdAt: string;
}

const columns = [
  'id',
  'username',
  'password_hash as passwordHash',
  'is_admin as isAdmin',
  'disabled',
  'created_at as createdAt',
] as const;

type Row = { id: number; username: string; passwordHash: string; isAdmin: number; disabled: number; createdAt: string };

function toAccount(row: Row): Account {
  return { ...row, isAdmin: row.isAdmin === 1, disabled: row.disabled === 1 };
}

export async function findAccount(db: MetadataDb, username: string): Promise<Account | undefined> {
  const row = await db.selectFrom('accounts').select(columns).where('username', '=', username).executeTakeFirst();
  return row ? toAccount(row) : undefined;
}

export async function findAccountById(db: MetadataDb, id: number): Promise<Account | undefined> {
  const row = await db.selectFrom('accounts').select(columns).where('id', '=', id).executeTakeFirst();
  return row ? toAccount(row) : undefined;
}

export async function listAccounts(db: MetadataDb): Promise<Account[]> {
  return (await db.selectFrom('accounts').select(columns).orderBy('username').execute()).map(toAccount);
}

export async function countAccounts(db: MetadataDb): Promise<number> {
  const row = await db
    .selectFrom('accounts')
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function createAccount(
  db: MetadataDb,
  account: { username: string; passwordHash: string; isAdmin?: boolean },
): Promise<Account> {
  // Users and organizations share one name space: the account and its namespace come together.
  await db.transaction().execute(async (tx) => {
    const taken = await tx
      .selectFrom('namespaces')
      .select('id')
      .where('name', '=', account.username)
      .executeTakeFirst();
    if (taken) throw new Error(`the name ${JSON.stringify(account.username)} is already taken`);
    const at = now();
    const result = await tx
      .insertInto('accounts')
      .values({
        username: account.username,
        password_hash: account.passwordHash,
        is_admin: account.isAdmin ? 1 : 0,
        created_at: at,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const plan = await tx.selectFrom('plans').select('id').where('name', '=', 'free').executeTakeFirstOrThrow();
    await tx
      .insertInto('namespaces')
      .values({
        name: account.username,
        kind: 'user',
        account_id: result.id,
        plan_id: plan.id,
        default_visibility: 'public',
        full_name: '',
        created_at: at,
      })
      .execute();
  });
  const created = await findAccount(db, account.username);
  if (!created) throw new Error(`account ${account.username} vanished while being created`);
  return created;
}

export async function updateAccount(
  db: MetadataDb,
  username: string,
  changes: { passwordHash?: string; disabled?: boolean; isAdmin?: boolean },
): Promise<boolean> {
  const set: { password_hash?: string; disabled?: number; is_admin?: number } = {};
  if (changes.passwordHash !== undefined) set.password_hash = changes.passwordHash;
  if (changes.disabled !== undefined) set.disabled = changes.disabled ? 1 : 0;
  if (changes.isAdmin !== undefined) set.is_admin = changes.isAdmin ? 1 : 0;
  const result = await db.updateTable('accounts').set(set).where('username', '=', username).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function storeRefreshToken(
  db: MetadataDb,
  token: { id: string; accountId: number; clientId: string; expiresAt: string; accessTokenId?: number },
): Promise<void> {
  await db
    .insertInto('refresh_tokens')
    .values({
      id: token.id,
      account_id: token.accountId,
      client_id: token.clientId,
      created_at: now(),
      expires_at: token.expiresAt,
      access_token_id: token.accessTokenId ?? null,
    })
    .execute();
}

/**
 * The account a refresh token (by its hash) belongs to, if it has not expired, and the access
 * token its login used (the refresh token then carries that token's scope and revocation).
 */
export async function findRefreshToken(
  db: MetadataDb,
  id: string,
): Promise<{ accountId: number; accessTokenId: number | null } | undefined> {
  const row = await db
    .selectFrom('refresh_tokens')
    .select(['account_id', 'access_token_id'])
    .where('id', '=', id)
    .where('expires_at', '>', now())
    .executeTakeFirst();
  return row ? { accountId: row.account_id, accessTokenId: row.access_token_id ?? null } : undefined;
}
