import type { Kysely, Migration } from 'kysely';

/**
 * Failed logins kept in the database (issue 12), so that every node behind a load balancer
 * counts the same failures: one row per key and failure, times in ms since the epoch (each
 * node's clock: keep them in sync, as for tokens). Rows older than the throttle's window are
 * useless and are deleted as new failures arrive.
 */
export const loginFailureMigrations: Record<string, Migration> = {
  '0011_login_failures': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('login_failures')
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('failed_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('login_failures_key').on('login_failures').columns(['key', 'failed_at']).execute();
      await db.schema.createIndex('login_failures_time').on('login_failures').column('failed_at').execute();
    },
  },
};

export interface LoginFailureTables {
  login_failures: LoginFailuresTable;
}

export interface LoginFailuresTable {
  key: string;
  failed_at: number;
}
