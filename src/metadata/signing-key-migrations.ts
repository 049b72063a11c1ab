import type { Kysely, Migration } from 'kysely';

/**
 * The token signing keys (issue 12): in the metadata database so that every node behind a load
 * balancer signs and verifies with the same keys. `role` is `current` for the one key that signs
 * (unique, so two nodes starting at once cannot both install theirs) and NULL for keys that only
 * verify (an imported key file when the database already had one).
 */
export const signingKeyMigrations: Record<string, Migration> = {
  '0010_token_signing_keys': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('token_signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('private_jwk', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.unique())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
};

export interface SigningKeyTables {
  token_signing_keys: TokenSigningKeysTable;
}

export interface TokenSigningKeysTable {
  kid: string;
  /** The private key as a JWK (JSON text): whoever reads this table can sign tokens. */
  private_jwk: string;
  role: 'current' | null;
  created_at: string;
}
