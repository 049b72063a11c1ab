// Explore and search (one page, like Docker Hub's): result cards, sort (best match, most stars,
// most pulls, recently updated), filters (official, mine, starred) and real paging. Only
// repositories the viewer may pull, with the same ranking as docker search (metadata/search.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { organizationsOf } from '../../../hub/orgs.js';
import { type SearchOrdering, searchRepositories } from '../../../metadata/search.js';
import { page, type UiDeps } from '../context.js';
import { abbreviate, absoluteTime, pullName, relativeTime } from '../data.js';
import { repoPath } from './repository.js';

const PAGE_SIZE = 25;
/** The last page a visitor can ask for (25 × 400 = 10,000 results, as Docker Hub stops too). */
const MAX_PAGE = 400;

export const SORTS: { value: string; label: string; ordering: SearchOrdering }[] = [
  { value: 'best', label: 'Best match', ordering: 'relevance' },
  { value: 'stars', label: 'Most stars', ordering: '-star_count' },
  { value: 'pulls', label: 'Most pulls', ordering: '-pull_count' },
  { value: 'updated', label: 'Recently updated', ordering: '-last_updated' },
];
const FILTERS = ['official', 'mine', 'starred'] as const;
type Filter = (typeof FILTERS)[number];

type SearchHit = Awaited<ReturnType<typeof searchRepositories>>['hits'][number];

/** A search hit as the repository cards show it (explore, search, dashboard). */
export function repositoryCard(h: SearchHit, now: number) {
  return {
    ...h,
    display: pullName(h.name),
    path: repoPath(h.name),
    pulls: abbreviate(h.pullCount),
    stars: abbreviate(h.starCount),
    updated: h.lastUpdated,
    updatedRelative: relativeTime(h.lastUpdated, now),
    updatedAbsolute: absoluteTime(h.lastUpdated),
  };
}

export async function explorePages(app: FastifyInstance, deps: UiDeps): Promise<void> {
  const explore = async (req: FastifyRequest, reply: FastifyReply, home: boolean) => {
    const query = new URLSearchParams(req.url.split('?')[1] ?? '');
    const q = (query.get('q') ?? '').trim().slice(0, 200);
    const sort = SORTS.find((s) => s.value === query.get('sort')) ?? (SORTS[0] as (typeof SORTS)[number]);
    const account = req.viewer.account;
    // Filters that need an account are ignored for anonymous visitors (not offered to them).
    const filters = new Set(
      query
        .getAll('filter')
        .filter((f): f is Filter => (FILTERS as readonly string[]).includes(f) && (f === 'official' || !!account)),
    );
    const pageNo = Math.max(1, Math.min(MAX_PAGE, Number.parseInt(query.get('page') ?? '1', 10) || 1));
    const namespaces =
      filters.has('mine') && account
        ? [account.username, ...(await organizationsOf(deps.db, account.id)).map((o) => o.name)]
        : undefined;
    const found = await searchRepositories(deps.db, {
      text: q,
      reader: deps.auth.policy.catalogReader(account),
      limit: PAGE_SIZE,
      offset: (pageNo - 1) * PAGE_SIZE,
      ordering: sort.ordering,
      ...(filters.has('official') ? { isOfficial: true } : {}),
      ...(filters.has('starred') && account ? { starredBy: account.id } : {}),
      ...(namespaces ? { namespaces } : {}),
    });
    const pages = Math.max(1, Math.min(MAX_PAGE, Math.ceil(found.total / PAGE_SIZE)));
    const link = (p: number) => {
      const params = new URLSearchParams();
      if (q) params.set('q', q);
      if (sort.value !== 'best') params.set('sort', sort.value);
      for (const f of filters) params.append('filter', f);
      if (p > 1) params.set('page', String(p));
      const s = params.toString();
      return s ? `/search?${s}` : '/search';
    };
    const now = Date.now();
    const hits = found.hits.map((h) => repositoryCard(h, now));
    // A short window of page numbers around the current one.
    const window = [];
    for (let p = Math.max(1, pageNo - 2); p <= Math.min(pages, pageNo + 2); p++) window.push({ n: p, href: link(p) });
    return page(req, reply, 'search', {
      title: q ? `Search: ${q}` : 'Explore',
      home,
      q,
      total: found.total,
      hits,
      sorts: SORTS,
      sort: sort.value,
      filters: [...filters],
      signedIn: !!account,
      pageNo,
      pages,
      window,
      first: pageNo > 1 ? link(1) : '',
      prev: pageNo > 1 ? link(pageNo - 1) : '',
      next: pageNo < pages ? link(pageNo + 1) : '',
      last: pageNo < pages ? link(pages) : '',
      from: found.total === 0 ? 0 : (pageNo - 1) * PAGE_SIZE + 1,
      to: (pageNo - 1) * PAGE_SIZE + hits.length,
    });
  };

  app.get('/', async (req, reply) => explore(req, reply, true));
  app.get('/search', async (req, reply) => explore(req, reply, false));
}
