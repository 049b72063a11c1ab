// Repository search: the query behind `/v1/search` (what `docker search` asks), the hub API's
// search and the web UI's explore and search pages. Matching sits behind TextMatcher so that
// PostgreSQL (pg_trgm) can replace SQLite FTS5 without touching the ranking or the HTTP layers.
// The cost of a page does not grow with the number of matches (issue 15): matches are counted in
// the index, and a page of a search with many matches walks an index in the page's order and
// stops early instead of scoring every match.
import { type Expression, type ExpressionBuilder, type Kysely, type RawBuilder, type SqlBool, sql } from 'kysely';
import type { MetadataDb } from './db.js';
import { isPostgres } from './migrate.js';
import { type CatalogReader, readableBy } from './repositories.js';
import type { Database, RepositoriesTable, Visibility } from './schema.js';
import { POPULARITY_SQL } from './ui-migrations.js';

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
  /** Only repositories starred by this account (the UI's "starred" filter). */
  starredBy?: number;
  /** Only repositories in these namespaces (the UI's "mine": the own and the organizations'). */
  namespaces?: string[];
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
  /** The last push, or the creation when nothing was pushed. */
  lastUpdated: string;
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

/** The text half of a search: which repositories match, counted and listed from an index. */
export interface TextMatcher {
  /**
   * Ids of the repositories (of that visibility, or any) whose name contains the text or whose
   * name and descriptions contain all its words; undefined when the index cannot answer the text
   * (then the search falls back to scanning names and descriptions).
   */
  ids(text: string, words: string[], visibility?: Visibility): RawBuilder<number> | undefined;
  /** How many ids(…) there are, counted inside the index. */
  count(db: MetadataDb, text: string, words: string[], visibility?: Visibility): Promise<number>;
}

/** `"` doubled inside an FTS5 phrase. */
const phrase = (s: string) => `"${s.replaceAll('"', '""')}"`;

/**
 * FTS5 trigram index (migration 0007_ui_search): substrings of three characters or more, case
 * insensitive. A query with a shorter word cannot be answered from trigrams.
 */
export const sqliteTrigram: TextMatcher = {
  ids(text, words, visibility) {
    const q = trigramQuery(text, words, visibility);
    return q === undefined
      ? undefined
      : sql<number>`select rowid from repository_search where repository_search match ${q}`;
  },
  async count(db, text, words, visibility) {
    const q = trigramQuery(text, words, visibility);
    if (q === undefined) throw new Error('the trigram index cannot answer this text');
    const row = await sql<{ n: number }>`select count(*) as n from repository_search where repository_search match ${q}`
      .execute(db)
      .then((r) => r.rows[0]);
    return Number(row?.n ?? 0);
  },
};

/**
 * PostgreSQL (0007_ui_search there: pg_trgm GIN indexes on the lower-cased name and on name and
 * descriptions together): the same substrings as the FTS5 trigrams, as LIKEs the trigram
 * indexes answer. Words are letters and digits only (queryWords), so no ' ' joins two of them.
 */
export const postgresTrigram: TextMatcher = {
  ids(text, words, visibility) {
    return sql<number>`select id from repositories where ${postgresTextCondition(text, words, visibility)}`;
  },
  async count(db, text, words, visibility) {
    const row = await sql<{
      n: number;
    }>`select count(*) as n from repositories where ${postgresTextCondition(text, words, visibility)}`
      .execute(db)
      .then((r) => r.rows[0]);
    return Number(row?.n ?? 0);
  },
};

function postgresTextCondition(text: string, words: string[], visibility?: Visibility): RawBuilder<boolean> {
  const name = sql<boolean>`lower(name) like ${`%${likeLiteral(text)}%`} escape '\\'`;
  const all = sql`lower(name || ' ' || description || ' ' || full_description)`;
  const textual =
    words.length > 0
      ? sql<boolean>`(${name} or (${sql.join(
          words.map((w) => sql`${all} like ${`%${likeLiteral(w)}%`} escape '\\'`),
          sql` and `,
        )}))`
      : name;
  return visibility === undefined ? textual : sql<boolean>`(${textual} and visibility = ${visibility})`;
}

/** The matcher for the database's dialect. */
export function textMatcherFor(db: MetadataDb): TextMatcher {
  return isPostgres(db as Kysely<unknown>) ? postgresTrigram : sqliteTrigram;
}

function trigramQuery(text: string, words: string[], visibility?: Visibility): string | undefined {
  if ([...text].length < 3 || words.some((w) => [...w].length < 3)) return undefined;
  const textual =
    words.length > 0
      ? `(name : ${phrase(text)} OR {name description full_description} : (${words.map(phrase).join(' AND ')}))`
      : `name : ${phrase(text)}`;
  return visibility === undefined ? textual : `${textual} AND visibility : ${phrase(visibility)}`;
}

/** The words of a query, as the FTS tokenizer cuts them (letters and digits). */
export function queryWords(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** `\`, `%` and `_` taken literally in a LIKE pattern (with ESCAPE '\'). */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Above this many matches a page walks an index instead of ranking every match. */
export const RANK_ALL_UP_TO = 2000;
/** With many matches, relevance ranks the most popular this many (at least) and the exact names. */
export const RANK_CANDIDATES = 300;

const COLUMNS = [
  'r.id',
  'r.name',
  'r.description',
  'r.star_count',
  'r.pull_count',
  'r.is_official',
  'r.visibility',
  'r.last_pushed_at',
  'r.created_at',
] as const;

/**
 * Repositories readable by the reader whose name contains the text, or whose name and
 * descriptions contain all its words, ranked:
 * 1. exact name matches: the name is the text (an official `library/x` for `x` too), official first;
 * 2. then the name's last component is the text (`alice/busybox` for `busybox`);
 * 3. then official images, then by score = match quality (name starts with the text 4, a name
 *    component starts with it 3, the name contains it 2, words only 0) + 3 when every word is in
 *    the name + 1 when every word is in the description + 2·ln(1+stars) + 0.5·ln(1+pulls);
 *    ties by name.
 * With more than RANK_ALL_UP_TO matches, step 3 ranks the RANK_CANDIDATES most popular matches
 * (stars and pulls, at least 2× the page's end) and the exact names, not every match: the first
 * pages of a search for a common word cost the same as those of a rare one.
 * Another `ordering` sorts by that column instead (ties by the ranking above, or by name when
 * there are many matches).
 */
export async function searchRepositories(
  db: MetadataDb,
  query: RepositorySearchQuery,
  matcher: TextMatcher = textMatcherFor(db),
): Promise<RepositorySearchPage> {
  const text = query.text.toLowerCase().trim();
  const words = queryWords(text);
  const like = `%${likeLiteral(text)}%`;
  // SQLite's LIKE ignores (ASCII) case, PostgreSQL's does not: ILIKE there.
  const LIKE = isPostgres(db as Kysely<unknown>) ? sql.raw('ilike') : sql.raw('like');
  const visibility: Visibility | undefined =
    query.isPrivate === undefined ? undefined : query.isPrivate ? 'private' : 'public';
  // Visibility is checked on the rows (readableBy): the ids need not intersect a visibility list.
  const indexed = text === '' ? undefined : matcher.ids(text, words);

  // Conditions on `r` besides the text: access, filters.
  const filtered = (eb: Eb) => {
    const and: Expression<SqlBool>[] = [readableBy(eb, query.reader)];
    if (query.isOfficial !== undefined) and.push(eb('r.is_official', '=', query.isOfficial ? 1 : 0));
    if (visibility !== undefined) and.push(eb('r.visibility', '=', visibility));
    if (query.starredBy !== undefined) {
      and.push(
        eb(
          'r.id',
          'in',
          eb.selectFrom('stars as s').select('s.repository_id').where('s.account_id', '=', query.starredBy),
        ),
      );
    }
    if (query.namespaces !== undefined) {
      const ors = query.namespaces.map((ns) => eb(sql<string>`substr(r.name, 1, ${ns.length + 1})`, '=', `${ns}/`));
      and.push(ors.length > 0 ? eb.or(ors) : sql<boolean>`1 = 0`);
    }
    return eb.and(and);
  };
  // The text condition. Driven by the index's ids, or (`walk`) tested on each row as LIKEs (the
  // same substrings as the trigrams), so that the query walks the ORDER BY's index and stops at
  // the LIMIT instead of first collecting every match.
  const matching = (eb: Eb, walk: boolean) => {
    if (text === '') return sql<boolean>`1 = 1`;
    if (indexed && !walk) return eb('r.id', 'in', sql<number>`(${indexed})`);
    const ors: Expression<SqlBool>[] = [sql<boolean>`r.name ${LIKE} ${like} escape '\\'`];
    if (words.length > 0) {
      ors.push(
        eb.and(
          words.map(
            (w) =>
              sql<boolean>`(r.name || ' ' || r.description || ' ' || r.full_description) ${LIKE} ${`%${likeLiteral(w)}%`} escape '\\'`,
          ),
        ),
      );
    }
    return eb.or(ors);
  };

  const total = await countMatches(db, query, text, words, visibility, indexed, matcher, (eb) =>
    eb.and([matching(eb, false), filtered(eb)]),
  );

  const tier = sql<number>`case
    when r.name = ${text} or (r.is_official = 1 and r.name = ${`library/${text}`}) then 0
    when r.name ${LIKE} ${`%/${likeLiteral(text)}`} escape '\\' then 1
    else 2 end`;
  const quality = sql<number>`case
    when substr(r.name, 1, ${text.length}) = ${text} then 4
    when r.name ${LIKE} ${`%/${likeLiteral(text)}%`} escape '\\' or r.name ${LIKE} ${`%-${likeLiteral(text)}%`} escape '\\' then 3
    when r.name ${LIKE} ${like} escape '\\' then 2
    else 0 end`;
  const allIn = (column: string) =>
    words.length === 0
      ? sql<number>`0`
      : sql<number>`(case when ${sql.join(
          words.map((w) => sql`${sql.ref(column)} ${LIKE} ${`%${likeLiteral(w)}%`} escape '\\'`),
          sql` and `,
        )} then 1 else 0 end)`;
  const popularity = sql.raw<number>(
    POPULARITY_SQL.replaceAll('star_count', 'r.star_count').replaceAll('pull_count', 'r.pull_count'),
  );
  const score = sql<number>`(${quality} + 3 * ${allIn('r.name')} + ${allIn('r.description')} + ${popularity})`;

  const ordering = query.ordering ?? 'relevance';
  const desc = ordering.startsWith('-');
  const column = ordering.replace(/^-/, '');
  const orderColumn =
    column === 'star_count'
      ? sql`r.star_count`
      : column === 'pull_count'
        ? sql`r.pull_count`
        : column === 'last_updated'
          ? sql`coalesce(r.last_pushed_at, r.created_at)`
          : sql`r.name`;
  const many = total > RANK_ALL_UP_TO;
  const end = query.offset + query.limit;

  let rows: Row[];
  if (!many) {
    // Few matches: rank them all.
    let q = db
      .selectFrom('repositories as r')
      .where((eb) => eb.and([matching(eb, false), filtered(eb)]))
      .select(COLUMNS);
    if (ordering !== 'relevance') q = q.orderBy(orderColumn, desc ? 'desc' : 'asc');
    rows = await q
      .orderBy(tier)
      // Official images first among equals (Docker Hub lists them first, and `library/x` shows as `x`).
      .orderBy('r.is_official', 'desc')
      .orderBy(score, 'desc')
      .orderBy('r.name')
      .limit(query.limit)
      .offset(query.offset)
      .execute();
  } else if (ordering !== 'relevance') {
    // Many matches, sorted by a column: walk that column's index.
    rows = await db
      .selectFrom('repositories as r')
      .where((eb) => eb.and([matching(eb, true), filtered(eb)]))
      .select(COLUMNS)
      .orderBy(orderColumn, desc ? 'desc' : 'asc')
      .orderBy('r.name', desc ? 'desc' : 'asc')
      .limit(query.limit)
      .offset(query.offset)
      .execute();
  } else {
    // Many matches by relevance: the most popular ones (walking the popularity index) and the
    // exact names (the name index), ranked.
    const candidates = db
      .selectFrom('repositories as r')
      .where((eb) => eb.and([matching(eb, true), filtered(eb)]))
      .select('r.id')
      .orderBy('r.is_official', 'desc')
      .orderBy(popularity, 'desc')
      .orderBy('r.name')
      .limit(Math.max(RANK_CANDIDATES, 2 * end));
    const exact = db
      .selectFrom('repositories as r')
      .where('r.name', 'in', [text, `library/${text}`])
      .where((eb) => filtered(eb))
      .select('r.id');
    rows = await db
      .selectFrom('repositories as r')
      .where((eb) => eb.or([eb('r.id', 'in', candidates), eb('r.id', 'in', exact)]))
      .select(COLUMNS)
      .orderBy(tier)
      .orderBy('r.is_official', 'desc')
      .orderBy(score, 'desc')
      .orderBy('r.name')
      .limit(query.limit)
      .offset(query.offset)
      .execute();
  }
  return {
    total,
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
      lastUpdated: r.last_pushed_at ?? r.created_at,
    })),
  };
}

interface Row {
  id: number;
  name: string;
  description: string;
  star_count: number;
  pull_count: number;
  is_official: number;
  visibility: Visibility;
  last_pushed_at: string | null;
  created_at: string;
}

/**
 * How many repositories match, for the reader. Without row filters the public matches are
 * counted inside the index and only the private matches (few: plans bound them) are checked
 * for access one by one; with a filter on rows (official, starred, mine) those rows are counted.
 */
async function countMatches(
  db: MetadataDb,
  query: RepositorySearchQuery,
  text: string,
  words: string[],
  visibility: Visibility | undefined,
  indexed: RawBuilder<number> | undefined,
  matcher: TextMatcher,
  rowCondition: (eb: Eb) => Expression<SqlBool>,
): Promise<number> {
  const rowFilters = query.isOfficial !== undefined || query.starredBy !== undefined || query.namespaces !== undefined;
  const countRows = async (where: (eb: Eb) => Expression<SqlBool>) =>
    Number(
      (
        await db
          .selectFrom('repositories as r')
          .where(where)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  if (indexed === undefined || rowFilters) return countRows(rowCondition);
  if (query.reader.all) return matcher.count(db, text, words, visibility);
  // Public matches = all − private ones (the private list is short, the public one is not).
  const privateMatches = await matcher.count(db, text, words, 'private');
  const publicCount = visibility === 'private' ? 0 : (await matcher.count(db, text, words)) - privateMatches;
  if (visibility === 'public' || (query.reader.accountId === undefined && query.reader.namespace === undefined)) {
    return publicCount;
  }
  const privateIds = matcher.ids(text, words, 'private');
  if (!privateIds) return countRows(rowCondition);
  if (privateMatches === 0) return publicCount;
  const reader = query.reader;
  const privateCount = await countRows((eb) =>
    eb.and([eb('r.id', 'in', sql<number>`(${privateIds})`), readableBy(eb, reader)]),
  );
  return publicCount + privateCount;
}
