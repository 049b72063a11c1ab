import { type Kysely, type Migration, sql } from 'kysely';
import { isPostgres } from './migrate.js';

/** The popularity part of the search ranking; the index below and metadata/search.ts use the same text. */
export const POPULARITY_SQL = '(2.0 * ln(1 + star_count) + 0.5 * ln(1 + pull_count))';

/**
 * Issue 15 (web UI and search that does not slow down with its matches).
 * - `repository_search`: an FTS5 trigram index over names, descriptions and the visibility, an
 *   external-content index on `repositories` kept in sync by triggers (like 0004's
 *   repository_fts). Trigrams answer "the name contains this text" from the index instead of a
 *   LIKE over every name, and counting public matches happens inside the index. SQLite only; on
 *   PostgreSQL this becomes pg_trgm (metadata/search.ts keeps the query behind TextMatcher).
 * - Indexes in the orders the search walks: popularity (official first), stars, pulls, last
 *   update; the first page of a search with many matches walks one of them and stops early.
 */
export const uiMigrations: Record<string, Migration> = {
  '0007_ui_search': {
    async up(db: Kysely<unknown>) {
      // SQLite: FTS5 trigrams; PostgreSQL: pg_trgm (the same substrings, see postgresTrigramIndexes).
      if (isPostgres(db)) await postgresTrigramIndexes(db);
      else await sqliteTrigramIndex(db);
      await sql
        .raw(`create index repositories_popularity on repositories (is_official desc, ${POPULARITY_SQL} desc, name)`)
        .execute(db);
      await sql`create index repositories_stars on repositories (star_count desc, name)`.execute(db);
      await sql`create index repositories_pulls on repositories (pull_count desc, name)`.execute(db);
      await sql`create index repositories_updated on repositories ((coalesce(last_pushed_at, created_at)) desc, name)`.execute(
        db,
      );
    },
  },
  '0007_ui_history': {
    async up(db: Kysely<unknown>) {
      // Every push of a tag with the image's compressed size: the tag page's size chart.
      await db.schema
        .createTable('tag_pushes')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('tag', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('pushed_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('tag_pushes_tag').on('tag_pushes').columns(['repository_id', 'tag', 'id']).execute();
      // Pulls of a repository per UTC day: the repository's pulls chart.
      await db.schema
        .createTable('daily_pulls')
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('day', 'text', (c) => c.notNull())
        .addColumn('count', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('daily_pulls_pk', ['repository_id', 'day'])
        .execute();
    },
  },
};

/** SQLite: the FTS5 trigram table, kept in sync with `repositories` by triggers. */
async function sqliteTrigramIndex(db: Kysely<unknown>): Promise<void> {
  await sql`create virtual table repository_search using fts5(
    name, description, full_description, visibility,
    content='repositories', content_rowid='id', tokenize='trigram')`.execute(db);
  await sql`create trigger repository_search_ai after insert on repositories begin
    insert into repository_search(rowid, name, description, full_description, visibility)
    values (new.id, new.name, new.description, new.full_description, new.visibility);
  end`.execute(db);
  await sql`create trigger repository_search_ad after delete on repositories begin
    insert into repository_search(repository_search, rowid, name, description, full_description, visibility)
    values ('delete', old.id, old.name, old.description, old.full_description, old.visibility);
  end`.execute(db);
  await sql`create trigger repository_search_au after update of name, description, full_description, visibility on repositories begin
    insert into repository_search(repository_search, rowid, name, description, full_description, visibility)
    values ('delete', old.id, old.name, old.description, old.full_description, old.visibility);
    insert into repository_search(rowid, name, description, full_description, visibility)
    values (new.id, new.name, new.description, new.full_description, new.visibility);
  end`.execute(db);
  await sql`insert into repository_search(repository_search) values ('rebuild')`.execute(db);
}

/**
 * PostgreSQL: pg_trgm GIN indexes on what the FTS5 trigram table indexes, lower-cased as its
 * trigrams are: the name, and the name with both descriptions (metadata/search.ts's postgresTrigram).
 */
async function postgresTrigramIndexes(db: Kysely<unknown>): Promise<void> {
  await sql`create extension if not exists pg_trgm`.execute(db);
  await sql`create index repositories_name_trgm on repositories using gin (lower(name) gin_trgm_ops)`.execute(db);
  await sql`create index repositories_text_trgm on repositories using gin (
    lower(name || ' ' || description || ' ' || full_description) gin_trgm_ops)`.execute(db);
}
