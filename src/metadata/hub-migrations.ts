import { type Kysely, type Migration, sql } from 'kysely';

/**
 * The hub's tables (see hub-schema.ts). Existing accounts get a user namespace on the free plan;
 * existing repositories are attached to their namespace when it exists.
 */
export const hubMigrations: Record<string, Migration> = {
  '0003_hub': {
    async up(db: Kysely<unknown>) {
      const now = new Date().toISOString();
      await db.schema
        .createTable('plans')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('private_repos', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await sql`insert into plans (name, private_repos, created_at) values ('free', 1, ${now})`.execute(db);
      await db.schema
        .createTable('namespaces')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('account_id', 'integer', (c) => c.references('accounts.id').onDelete('cascade'))
        .addColumn('plan_id', 'integer', (c) => c.notNull().references('plans.id'))
        .addColumn('default_visibility', 'text', (c) => c.notNull().defaultTo('public'))
        .addColumn('full_name', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await sql`insert into namespaces (name, kind, account_id, plan_id, created_at)
        select username, 'user', id, (select id from plans where name = 'free'), ${now} from accounts`.execute(db);
      await db.schema
        .createTable('org_members')
        .addColumn('namespace_id', 'integer', (c) => c.notNull().references('namespaces.id').onDelete('cascade'))
        .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('org_members_pk', ['namespace_id', 'account_id'])
        .execute();
      await db.schema
        .createTable('teams')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('namespace_id', 'integer', (c) => c.notNull().references('namespaces.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('teams_name', ['namespace_id', 'name'])
        .execute();
      await db.schema
        .createTable('team_members')
        .addColumn('team_id', 'integer', (c) => c.notNull().references('teams.id').onDelete('cascade'))
        .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('team_members_pk', ['team_id', 'account_id'])
        .execute();
      await db.schema
        .createTable('team_permissions')
        .addColumn('team_id', 'integer', (c) => c.notNull().references('teams.id').onDelete('cascade'))
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('permission', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('team_permissions_pk', ['team_id', 'repository_id'])
        .execute();
      await db.schema
        .createTable('collaborators')
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addColumn('permission', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('collaborators_pk', ['repository_id', 'account_id'])
        .execute();
      await db.schema
        .createTable('stars')
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('stars_pk', ['repository_id', 'account_id'])
        .execute();
      await db.schema
        .createTable('access_tokens')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text')
        .addColumn('last_used_at', 'text')
        .addColumn('revoked_at', 'text')
        .execute();
      await db.schema
        .createTable('webhooks')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('events', 'text', (c) => c.notNull())
        .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('deliveries')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('webhook_id', 'integer', (c) => c.references('webhooks.id').onDelete('cascade'))
        .addColumn('endpoint', 'text')
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('content_type', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('delivered_at', 'text')
        .execute();
      await db.schema.createIndex('deliveries_due').on('deliveries').columns(['status', 'next_attempt_at']).execute();
      await db.schema
        .createTable('delivery_attempts')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('delivery_id', 'integer', (c) => c.notNull().references('deliveries.id').onDelete('cascade'))
        .addColumn('attempted_at', 'text', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('error', 'text')
        .execute();
      await db.schema
        .createTable('audit_log')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('account_id', 'integer')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('namespace_id', 'integer')
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .addColumn('ip', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_log_namespace').on('audit_log').columns(['namespace_id', 'id']).execute();
      await db.schema
        .createTable('hub_sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addColumn('csrf_token', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .alterTable('repositories')
        .addColumn('namespace_id', 'integer', (c) => c.references('namespaces.id'))
        .execute();
      for (const [name, type, dflt] of [
        ['description', 'text', sql`''`],
        ['full_description', 'text', sql`''`],
        ['is_official', 'integer', sql`0`],
        ['star_count', 'integer', sql`0`],
        ['pull_count', 'integer', sql`0`],
      ] as const) {
        await db.schema
          .alterTable('repositories')
          .addColumn(name, type, (c) => c.notNull().defaultTo(dflt))
          .execute();
      }
      await db.schema.alterTable('repositories').addColumn('last_pushed_at', 'text').execute();
      await sql`update repositories set namespace_id = (select n.id from namespaces n
        where n.name = substr(repositories.name, 1, instr(repositories.name, '/') - 1))
        where instr(name, '/') > 0`.execute(db);
      await db.schema.alterTable('tags').addColumn('pushed_at', 'text').execute();
      await db.schema.alterTable('tags').addColumn('pulled_at', 'text').execute();
    },
  },
  '0004_h1_refresh_token_access_token': {
    // A refresh token issued on a login with an access token lives and is scoped as that token.
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('refresh_tokens')
        .addColumn('access_token_id', 'integer', (c) => c.references('access_tokens.id').onDelete('cascade'))
        .execute();
    },
  },
};
