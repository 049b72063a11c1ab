import { type Kysely, type Migration, sql } from 'kysely';
import { isPostgres } from './migrate.js';

/**
 * The search index (H3, issue 6): an FTS5 table over repository names and descriptions, an
 * external-content index on `repositories` kept in sync by triggers, so that every writer (the
 * registry's implicit creation, the hub API, admin commands) updates it without knowing of it.
 * SQLite only: on PostgreSQL this becomes a tsvector column with a GIN index (metadata/search.ts
 * keeps the query behind an interface for that).
 */
export const searchMigrations: Record<string, Migration> = {
  '0004_h3_search_fts': {
    async up(db: Kysely<unknown>) {
      if (isPostgres(db)) return postgresSearchIndex(db);
      // unicode61 splits on `/`, `-`, `_` and `.`: `tools/busybox-extra` is found by `busybox`.
      await sql`create virtual table repository_fts using fts5(
        name, description, full_description,
        content='repositories', content_rowid='id', tokenize='unicode61 remove_diacritics 2')`.execute(db);
      await sql`create trigger repository_fts_ai after insert on repositories begin
        insert into repository_fts(rowid, name, description, full_description)
        values (new.id, new.name, new.description, new.full_description);
      end`.execute(db);
      await sql`create trigger repository_fts_ad after delete on repositories begin
        insert into repository_fts(repository_fts, rowid, name, description, full_description)
        values ('delete', old.id, old.name, old.description, old.full_description);
      end`.execute(db);
      await sql`create trigger repository_fts_au after update of name, description, full_description on repositories begin
        insert into repository_fts(repository_fts, rowid, name, description, full_description)
        values ('delete', old.id, old.name, old.description, old.full_description);
        insert into repository_fts(rowid, name, description, full_description)
        values (new.id, new.name, new.description, new.full_description);
      end`.execute(db);
      await sql`insert into repository_fts(repository_fts) values ('rebuild')`.execute(db);
    },
  },
};

/**
 * PostgreSQL's form of 0004: a stored generated tsvector column with a GIN index. Names and
 * descriptions are cut into words at every non-letter/digit first, as FTS5's unicode61 does
 * (PostgreSQL's own parser would keep `tools/busybox-extra` as one "file" token); the name
 * weighs A, the description B, the full description C (bm25's 10 / 3 / 1 in metadata/search.ts).
 */
async function postgresSearchIndex(db: Kysely<unknown>): Promise<void> {
  const words = (column: string) =>
    sql.raw(`to_tsvector('simple', regexp_replace(lower(${column}), '[^[:alnum:]]+', ' ', 'g'))`);
  await sql`alter table repositories add column search_vector tsvector generated always as (
    setweight(${words('name')}, 'A') || setweight(${words('description')}, 'B') || setweight(${words('full_description')}, 'C')
  ) stored`.execute(db);
  await sql`create index repositories_search on repositories using gin (search_vector)`.execute(db);
}
