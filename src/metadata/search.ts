// Repository search: the query behind `/v1/search` (what `docker search` asks) and the hub API's
// search. Matching and relevance sit behind TextMatcher so that PostgreSQL full text can replace
// SQLite FTS5 without touching the ranking or the HTTP layers.
import { type Expression, type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely';
import type { MetadataDb } from './db.js';
import { isPostgres } from './migrate.js';
import { type CatalogReader, readableBy } from './repositories.js';
import type { Database, RepositoriesTable } from './schema.js';

export type SearchOrdering =
  | 'relevance'
  | 'star_count'
  | '-star_count'
  | 'pull_count'
  | '-pull_count'
  | 'last_updated'
  | '-last_updated'
  | 'name'
  | '-name';

export const SEARCH_ORDERINGS: readonly SearchOrdering[] = [
  'relevance',
  'star_count',
  '-star_count',
  'pull_count',
  '-pull_count',
  'last_updated',
  '-last_updated',
  'name',
  '-name',
];

export interface RepositorySearchQuery {
  /** Words to look for in names and descriptions; '' matches every repository. */
  text: string;
  /** Whose view: only repositories the reader may pull are found. */
  reader: CatalogReader;
  /** Page size (≥ 1) and 0-based offset of the page. */
  limit: number;
  offset: number;
  isOfficial?: boolean;
  isPrivate?: boolean;
  /** Default: relevance (see searchRepositories). `-x` is descending, as Docker Hub's. */
  ordering?: SearchOrdering;
}

export interface RepositoryHit {
  id: number;
  /** The stored name (`library/busybox`). */
  name: string;
  /** The name shown to users: an official `library/x` is shown as `x`. */
  displayName: string;
  description: string;
  starCount: number;
  pullCount: number;
  isOfficial: boolean;
  isPrivate: boolean;
  lastPushedAt: string | null;
}

export interface RepositorySearchPage {
  /** All matches, over every page. */
  total: number;
  hits: RepositoryHit[];
}

/** `library/x` marked official is shown (and pulled) as `x`, as on Docker Hub. */
export function displayName(name: string, isOfficial: boolean): string {
  return isOfficial && name.startsWith('library/') ? name.slice('library/'.length) : name;
}

type WithR = Database & { r: RepositoriesTable };
type Eb = ExpressionBuilder<WithR, 'r'>;

/** The full-text half of a search: which repositories match the words, and how well. */
export interface TextMatcher {
  /** Condition on `r`: the words match its name or descriptions. */
  matches(eb: Eb, words: string[]): Expression<SqlBool>;
  /** Relevance of `r` for the words, higher is better, roughly 0–10. */
  relevance(words: string[]): Expression<number>;
}

/** FTS5 (migration 0004_h3_search_fts): every word as a prefix, all of them required. */
export const sqliteFts5: TextMatcher = {
  matches(eb, words) {
    return eb(
      'r.id',
      'in',
      sql<number>`(select rowid from repository_fts where repository_fts match ${ftsQuery(words)})`,
    );
  },
  relevance(words) {
    // bm25 is negative (more negative = better); a name hit weighs 10 description hits.
    return sql<number>`coalesce(-(select bm25(repository_fts, 10.0, 3.0, 1.0) from repository_fts
      where repository_fts match ${ftsQuery(words)} and rowid = r.id), 0)`;
  },
};

/**
 * PostgreSQL full text (0004 on PostgreSQL: `repositories.search_vector`): every word as a
 * prefix, all required; ts_rank with the name weighing 10 description words, scaled to the
 * range of the FTS5 relevance so that the ranking below mixes it in the same proportion.
 */
export const postgresTsvector: TextMatcher = {
  matches(_eb, words) {
    return sql<boolean>`r.search_vector @@ to_tsquery('simple', ${tsQuery(words)})`;
  },
  relevance(words) {
    return sql<number>`(ts_rank('{0, 0.1, 0.3, 1.0}', r.search_vector, to_tsquery('simple', ${tsQuery(words)})) * 10)`;
  },
};

/** The words are letters and digits only (queryWords), so no tsquery operator can slip in. */
function tsQuery(words: string[]): string {
  return words.map((w) => `${w}:*`).join(' & ');
}

/** The matcher for the database's dialect. */
export function textMatcherFor(db: MetadataDb): TextMatcher {
  return isPostgres(db as Kysely<unknown>) ? postgresTsvector : sqliteFts5;
}

function ftsQuery(words: string[]): string {
  return words.map((w) => `"${w}"*`).join(' AND ');
}

/** The words of a query, as the FTS tokenizer cuts them (letters and digits). */
export function queryWords(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** `\`, `%` and `_` taken literally in a LIKE pattern (with ESCAPE '\'). */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * Repositories readable by the reader whose name contains the text, or whose name and
 * descriptions contain all its words (as prefixes), ranked:
 * 1. exact name matches: the name is the text (an official `library/x` for `x` too), official first;
 * 2. then the name's last component is the text (`alice/busybox` for `busybox`);
 * 3. then by score = match quality (name starts with the text 4, a name component starts with
 *    it 3, the name contains it 2, words only 0) + full-text relevance (bm25) + 2·ln(1+stars) +
 *    0.5·ln(1+pulls); ties by name.
 * Another `ordering` sorts by that column instead (ties by the ranking above).
 */
export async function searchRepositories(
  db: MetadataDb,
  query: RepositorySearchQuery,
  matcher: TextMatcher = textMatcherFor(db),
): Promise<RepositorySearchPage> {
  const text = query.text.toLowerCase().trim();
  const words = queryWords(text);
  const like = `%${likeLiteral(text)}%`;
  let base = db.selectFrom('repositories as r').where((eb) => readableBy(eb, query.reader));
  if (text !== '') {
    base = base.where((eb) => {
      const ors: Expression<SqlBool>[] = [sql<boolean>`r.name like ${like} escape '\\'`];
      if (words.length > 0) ors.push(matcher.matches(eb, words));
      return eb.or(ors);
    });
  }
  if (query.isOfficial !== undefined) base = base.where('r.is_official', '=', query.isOfficial ? 1 : 0);
  if (query.isPrivate !== undefined) base = base.where('r.visibility', '=', query.isPrivate ? 'private' : 'public');
  const counted = await base.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();

  const tier = sql<number>`case
    when r.name = ${text} or (r.is_official = 1 and r.name = ${`library/${text}`}) then 0
    when r.name like ${`%/${likeLiteral(text)}`} escape '\\' then 1
    else 2 end`;
  const quality = sql<number>`case
    when substr(r.name, 1, ${text.length}) = ${text} then 4
    when r.name like ${`%/${likeLiteral(text)}%`} escape '\\' or r.name like ${`%-${likeLiteral(text)}%`} escape '\\' then 3
    when r.name like ${like} escape '\\' then 2
    else 0 end`;
  const relevance = words.length > 0 ? matcher.relevance(words) : sql<number>`0`;
  const score = sql<number>`(${quality} + ${relevance} + 2.0 * ln(1 + r.star_count) + 0.5 * ln(1 + r.pull_count))`;

  let q = base.select([
    'r.id',
    'r.name',
    'r.description',
    'r.star_count',
    'r.pull_count',
    'r.is_official',
    'r.visibility',
    'r.last_pushed_at',
  ]);
  const ordering = query.ordering ?? 'relevance';
  if (ordering !== 'relevance') {
    const desc = ordering.startsWith('-');
    const column = ordering.replace(/^-/, '');
    const col =
      column === 'star_count'
        ? sql`r.star_count`
        : column === 'pull_count'
          ? sql`r.pull_count`
          : column === 'last_updated'
            ? sql`coalesce(r.last_pushed_at, r.created_at)`
            : sql`r.name`;
    q = q.orderBy(col, desc ? 'desc' : 'asc');
  }
  const rows = await q
    .orderBy(tier)
    // Official images first among equals (Docker Hub lists them first, and `library/x` shows as `x`).
    .orderBy('r.is_official', 'desc')
    .orderBy(score, 'desc')
    .orderBy('r.name')
    .limit(query.limit)
    .offset(query.offset)
    .execute();
  return {
    total: Number(counted.n),
    hits: rows.map((r) => ({
      id: r.id,
      name: r.name,
      displayName: displayName(r.name, r.is_official === 1),
      description: r.description,
      starCount: r.star_count,
      pullCount: r.pull_count,
      isOfficial: r.is_official === 1,
      isPrivate: r.visibility === 'private',
      lastPushedAt: r.last_pushed_at,
    })),
  };
}
