import type { CatalogReader } from '../../metadata/repositories.js';
import { SEARCH_ORDERINGS, type SearchOrdering, searchRepositories } from '../../metadata/search.js';
import { type ApiRoutes, callerOf, invalid, offsetOf, pageOf, paginate, sendJson } from './plumbing.js';

// GET /api/search: the same ranked search as /v1/search (docker search), with Docker Hub's page
// envelope, filters and ordering. Private repositories only for callers who may pull them.

function boolParam(value: unknown, name: string): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  return invalid(`${name} must be true or false`);
}

export const searchApiRoutes: ApiRoutes = (api, ctx) => {
  ctx.openapi.add('get', '/search', {
    summary: 'Ranked search over repository names and descriptions (exact names first, boosted by stars and pulls)',
    tags: ['search'],
    parameters: [
      { name: 'query', in: 'query', schema: { type: 'string' } },
      { name: 'page', in: 'query', schema: { type: 'integer' } },
      { name: 'page_size', in: 'query', schema: { type: 'integer' } },
      { name: 'is_official', in: 'query', schema: { type: 'boolean' } },
      {
        name: 'is_private',
        in: 'query',
        schema: { type: 'boolean' },
        description: "the caller's private repositories",
      },
      { name: 'ordering', in: 'query', schema: { type: 'string', enum: [...SEARCH_ORDERINGS] } },
    ],
  });
  api.get('/search', async (req, reply) => {
    const q = (req.query ?? {}) as Record<string, string | undefined>;
    const p = paginate(q);
    const text = q.query ?? q.q ?? '';
    if (text.length > 255) invalid('query is longer than 255 characters');
    const ordering = (q.ordering ?? 'relevance') as SearchOrdering;
    if (!SEARCH_ORDERINGS.includes(ordering)) invalid(`ordering must be one of ${SEARCH_ORDERINGS.join(', ')}`);
    const isOfficial = boolParam(q.is_official, 'is_official');
    const isPrivate = boolParam(q.is_private, 'is_private');
    const caller = await callerOf(ctx, req);
    // Without accounts (auth.mode none or htpasswd) the API reads as anonymous: public only.
    const reader: CatalogReader = ctx.tokenDeps ? ctx.tokenDeps.policy.catalogReader(caller?.account) : { all: false };
    const found = await searchRepositories(ctx.db, {
      text,
      reader,
      limit: p.page_size,
      offset: offsetOf(p),
      ordering,
      ...(isOfficial !== undefined ? { isOfficial } : {}),
      ...(isPrivate !== undefined ? { isPrivate } : {}),
    });
    const results = found.hits.map((h) => ({
      repo_name: h.displayName,
      name: h.name,
      short_description: h.description,
      star_count: h.starCount,
      pull_count: h.pullCount,
      is_official: h.isOfficial,
      is_private: h.isPrivate,
      is_automated: false,
      last_updated: h.lastPushedAt,
    }));
    sendJson(reply, pageOf(req, p, found.total, results));
  });
};
