// Repository search: the query behind `/v1/search` (what `docker search` asks). Kept behind one
// small function so that the hub can later swap the matching and ranking (SQLite FTS5,
// PostgreSQL full text, stars) without touching the HTTP layer.
import { sql } from 'kysely';
import type { MetadataDb } from './db.js';
import { type CatalogReader, readableBy } from './repositories.js';

export interface RepositorySearchQuery {
  /** What to look for in repository names; '' matches every repository. */
  text: string;
  /** Whose view: only repositories the reader may pull are found. */
  reader: CatalogReader;
  /** Page size (≥ 1) and 0-based offset of the page. */
  limit: number;
  offset: number;
}

export interface RepositoryHit {
  name: string;
  description: string;
  starCount: number;
  isOfficial: boolean;
}

export interface RepositorySearchPage {
  /** All matches, over every page. */
  total: number;
  hits: RepositoryHit[];
}

/** `\`, `%` and `_` taken literally in a LIKE pattern (with ESCAPE '\'). */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * Repositories whose name contains `text` (case-insensitive; names are lowercase), readable by
 * the reader. Order: the exact name first, then names starting with the text, then the others,
 * each group alphabetical. Descriptions, stars and official marks belong to the hub and are not
 * kept yet: every hit has description '', 0 stars and is not official.
 */
export async function searchRepositories(db: MetadataDb, query: RepositorySearchQuery): Promise<RepositorySearchPage> {
  const text = query.text.toLowerCase();
  const base = db
    .selectFrom('repositories as r')
    .where((eb) => readableBy(eb, query.reader))
    // LIKE and substr exist on SQLite and PostgreSQL alike.
    .where(sql<boolean>`r.name like ${`%${likeLiteral(text)}%`} escape '\\'`);
  const counted = await base.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
  const rank = sql<number>`case when r.name = ${text} then 0 when substr(r.name, 1, ${text.length}) = ${text} then 1 else 2 end`;
  const rows = await base
    .select('r.name')
    .orderBy(rank)
    .orderBy('r.name')
    .limit(query.limit)
    .offset(query.offset)
    .execute();
  return {
    total: Number(counted.n),
    hits: rows.map((r) => ({ name: r.name, description: '', starCount: 0, isOfficial: false })),
  };
}
