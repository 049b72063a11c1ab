// The signed-in dashboard: my repositories, my organizations, starred repositories and the
// latest pushes into my namespaces.
import type { FastifyInstance } from 'fastify';
import { organizationsOf } from '../../../hub/orgs.js';
import { searchRepositories } from '../../../metadata/search.js';
import { page, signedIn, type UiDeps } from '../context.js';
import { absoluteTime, pullName, relativeTime } from '../data.js';
import { repositoryCard } from './explore.js';
import { repoPath } from './repository.js';

const SHOWN = 10;

export async function dashboardPages(app: FastifyInstance, deps: UiDeps): Promise<void> {
  app.get('/dashboard', async (req, reply) => {
    const account = signedIn(req, reply);
    if (!account) return reply;
    const orgs = await organizationsOf(deps.db, account.id);
    const namespaces = [account.username, ...orgs.map((o) => o.name)];
    const reader = deps.auth.policy.catalogReader(account);
    const now = Date.now();
    const card = (h: Parameters<typeof repositoryCard>[0]) => repositoryCard(h, now);
    const base = { text: '', reader, limit: SHOWN, offset: 0, ordering: '-last_updated' as const };
    const mine = await searchRepositories(deps.db, { ...base, namespaces });
    const starred = await searchRepositories(deps.db, { ...base, starredBy: account.id });
    // Pushes into my namespaces, newest first (tags remember their last push).
    const pushes = await deps.db
      .selectFrom('tags as t')
      .innerJoin('repositories as r', 'r.id', 't.repository_id')
      .select(['r.name as repository', 't.name as tag', 't.pushed_at'])
      .where('t.pushed_at', 'is not', null)
      .where((eb) =>
        eb.or(namespaces.map((ns) => eb(eb.fn('substr', ['r.name', eb.val(1), eb.val(ns.length + 1)]), '=', `${ns}/`))),
      )
      .orderBy('t.pushed_at', 'desc')
      .limit(SHOWN)
      .execute();
    return page(req, reply, 'dashboard', {
      title: 'Dashboard',
      mine: { total: mine.total, hits: mine.hits.map(card) },
      starred: { total: starred.total, hits: starred.hits.map(card) },
      orgs,
      pushes: pushes.map((p) => ({
        repository: pullName(p.repository),
        path: repoPath(p.repository),
        tag: p.tag,
        at: p.pushed_at ?? '',
        relative: p.pushed_at ? relativeTime(p.pushed_at, now) : '',
        absolute: p.pushed_at ? absoluteTime(p.pushed_at) : '',
      })),
      username: account.username,
    });
  });
}
