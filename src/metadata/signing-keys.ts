/** Queries of the token signing keys (schema in signing-key-migrations.ts). */
import type { MetadataDb } from './db.js';

export interface StoredSigningKey {
  kid: string;
  privateJwk: string;
  current: boolean;
}

/** Every key, the current (signing) one first, then the others oldest first. */
export async function listSigningKeys(db: MetadataDb): Promise<StoredSigningKey[]> {
  const rows = await db
    .selectFrom('token_signing_keys')
    .select(['kid', 'private_jwk', 'role'])
    .orderBy('created_at')
    .orderBy('kid')
    .execute();
  const keys = rows.map((r) => ({ kid: r.kid, privateJwk: r.private_jwk, current: r.role === 'current' }));
  return [...keys.filter((k) => k.current), ...keys.filter((k) => !k.current)];
}

/**
 * Adds a key unless its kid is there already. With `current`, it becomes the signing key only if
 * there is none yet: of several nodes starting at once exactly one wins (the unique role); the
 * others' inserts do nothing and they read the winner's. Returns whether the row was inserted.
 */
export async function insertSigningKey(
  db: MetadataDb,
  key: { kid: string; privateJwk: string; current: boolean },
): Promise<boolean> {
  const result = await db
    .insertInto('token_signing_keys')
    .values({
      kid: key.kid,
      private_jwk: key.privateJwk,
      role: key.current ? 'current' : null,
      created_at: new Date().toISOString(),
    })
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
}
