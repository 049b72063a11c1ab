// Home (explore) and search: only repositories the viewer may pull, as docker search shows them.
import type { FastifyInstance } from 'fastify';
import { searchRepositories } from '../../../metadata/search.js';
import { page, type UiDeps } from '../context.js';
import { pullName } from '../data.js';
import { repoPath } from './repository.js';

const PAGE_SIZE = 25;

export async function explorePages(app: FastifyInstance, deps: UiDeps): Promise<void> {
  const results = async (account: Parameters<typeof deps.auth.policy.catalogReader>[0], q: string, pageNo: number) => {
    const found = await searchRepositories(deps.db, {
      text: q,
      reader: deps.auth.policy.catalogReader(account),
      limit: PAGE_SIZE,
      offset: (pageNo - 1) * PAGE_SIZE,
    });
    return {
      total: found.total,
      hits: found.hits.map((h) => ({ ...h, display: pullName(h.name), path: repoPath(h.name) })),
    };
  };

  app.get('/', async (req, reply) => {
    const found = await results(req.viewer.account, '', 1);
    return page(req, reply, 'home', { title: 'Explore', ...found });
  });

  app.get('/search', async (req, reply) => {
    const query = new URLSearchParams(req.url.split('?')[1] ?? '');
    const q = (query.get('q') ?? '').trim().slice(0, 200);
    const pageNo = Math.max(1, Math.min(1000, Number.parseInt(query.get('page') ?? '1', 10) || 1));
    const found = await results(req.viewer.account, q, pageNo);
    const next = pageNo * PAGE_SIZE < found.total ? `/search?q=${encodeURIComponent(q)}&page=${pageNo + 1}` : '';
    const prev = pageNo > 1 ? `/search?q=${encodeURIComponent(q)}&page=${pageNo - 1}` : '';
    return page(req, reply, 'search', { title: `Search: ${q}`, q, ...found, next, prev });
  });
}
