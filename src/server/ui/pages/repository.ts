// The repository page (description, tags, docker pull command, star) and a tag's layers and history.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { formatBytes } from '../../../hub/quotas.js';
import { getRepository } from '../../../hub/repositories.js';
import { hasStarred } from '../../../hub/stars.js';
import { listHubTags } from '../../../hub/tags.js';
import { repositoryUsage } from '../../../hub/usage.js';
import { dailyPulls, tagPushes } from '../../../hub/usage-history.js';
import { barChart, lineChart } from '../charts.js';
import { actionsOf, NotFound, page, type UiDeps } from '../context.js';
import { abbreviate, absoluteTime, formatSize, pullName, relativeTime } from '../data.js';
import { tagImage } from '../images.js';
import { renderMarkdown } from '../markdown.js';

/** `/r/:ns/:name` → the repository name; `_` stands for top-level (official) names. */
export function repoName(req: FastifyRequest): string {
  const { ns, name } = req.params as { ns: string; name: string };
  return ns === '_' ? name : `${ns}/${name}`;
}

export function repoPath(name: string): string {
  const slash = name.lastIndexOf('/');
  return slash < 0 ? `/r/_/${name}` : `/r/${name}`;
}

/** The tags of a repository as its pages show them (Docker Hub's shape: per-platform images). */
async function tagRows(deps: UiDeps, repositoryId: number, host: string, display: string, limit: number) {
  const now = Date.now();
  const { count, results } = await listHubTags(deps.db, deps.storage, repositoryId, { limit, offset: 0 });
  return {
    count,
    tags: results.map((t) => {
      const pushed = t.tag_last_pushed ?? t.last_updated;
      return {
        name: t.name,
        digest: t.digest,
        platforms: t.images.map((im) => ({
          platform: [im.os, im.architecture, im.variant].filter(Boolean).join('/'),
          digest: im.digest,
          size: formatSize(im.size),
        })),
        size: formatSize(t.full_size),
        own: formatSize(t.own_size),
        shared: formatSize(t.shared_size),
        pushed,
        pushedRelative: relativeTime(pushed, now),
        pushedAbsolute: absoluteTime(pushed),
        pulled: t.tag_last_pulled,
        pulledRelative: t.tag_last_pulled ? relativeTime(t.tag_last_pulled, now) : '',
        pulledAbsolute: t.tag_last_pulled ? absoluteTime(t.tag_last_pulled) : '',
        pull: `docker pull ${host}/${display}:${t.name}`,
      };
    }),
  };
}

/** Tags shown on the Tags tab at most (filtered and sorted among these). */
const TAGS_SHOWN = 200;

export async function repositoryPages(app: FastifyInstance, deps: UiDeps): Promise<void> {
  /** What every tab of a repository shows: its head (name, badges, stars, pull line, star button). */
  const head = async (req: FastifyRequest) => {
    const name = repoName(req);
    const { account } = req.viewer;
    const repo = await getRepository(deps.db, actionsOf(deps), account, name);
    const starred = account ? await hasStarred(deps.db, repo.id, account.id) : false;
    const host = req.headers.host ?? req.hostname;
    return {
      title: repo.displayName,
      repo,
      host,
      path: repoPath(repo.fullName),
      pull: `docker pull ${host}/${repo.displayName}`,
      pulls: abbreviate(repo.pullCount),
      updatedRelative: repo.lastPushedAt ? relativeTime(repo.lastPushedAt) : '',
      updatedAbsolute: repo.lastPushedAt ? absoluteTime(repo.lastPushedAt) : '',
      starred,
      canStar: Boolean(account),
      canAdmin: repo.permissions.admin,
      // Disk usage: bytes only this repository holds, and those it shares (hub/usage.ts).
      usage: await repositoryUsage(deps.db, repo.id),
      bytes: formatBytes,
      origin: await deps.proxy?.originOf(repo.fullName),
    };
  };

  app.get('/r/:ns/:name', async (req, reply) => {
    const h = await head(req);
    const { tags, count } = await tagRows(deps, h.repo.id, h.host, h.repo.displayName, 5);
    const pulls = await dailyPulls(deps.db, h.repo.id, new Date().toISOString().slice(0, 10));
    return page(req, reply, 'repository', {
      ...h,
      tab: 'overview',
      pullsChart: barChart(
        pulls.map((p) => ({ label: p.day, value: p.count })),
        { title: `Pulls per day of ${h.repo.displayName}, last 30 days` },
      ),
      pullsTotal: pulls.reduce((n, p) => n + p.count, 0),
      descriptionHtml: await renderMarkdown(h.repo.fullDescription),
      tags,
      tagCount: count,
    });
  });

  app.get('/r/:ns/:name/tags', async (req, reply) => {
    const h = await head(req);
    const query = new URLSearchParams(req.url.split('?')[1] ?? '');
    const filter = (query.get('name') ?? '').trim().slice(0, 128);
    const sort = query.get('sort') === 'name' ? 'name' : 'newest';
    const { tags, count } = await tagRows(deps, h.repo.id, h.host, h.repo.displayName, TAGS_SHOWN);
    const shown = tags.filter((t) => t.name.toLowerCase().includes(filter.toLowerCase()));
    if (sort === 'name') shown.sort((a, b) => a.name.localeCompare(b.name));
    return page(req, reply, 'repository', { ...h, tab: 'tags', tags: shown, tagCount: count, filter, sort });
  });

  app.get('/r/:ns/:name/tags/:tag', async (req, reply) => {
    const name = repoName(req);
    const repo = await getRepository(deps.db, actionsOf(deps), req.viewer.account, name);
    const { tag } = req.params as { tag: string };
    const digest = new URLSearchParams(req.url.split('?')[1] ?? '').get('digest');
    // A platform of a multi-platform tag is shown by its digest, within the same repository.
    const image = await tagImage(deps.db, deps.storage, name, digest?.startsWith('sha256:') ? digest : tag);
    if (!image) throw new NotFound();
    const pushes = await tagPushes(deps.db, repo.id, tag);
    const host = req.headers.host ?? req.hostname;
    return page(req, reply, 'tag', {
      title: `${pullName(name)}:${tag}`,
      name,
      path: repoPath(name),
      tag,
      image,
      formatSize,
      pull: `docker pull ${host}/${pullName(name)}:${tag}`,
      sizeChart: lineChart(
        pushes.map((p) => ({ label: p.pushedAt.slice(0, 16).replace('T', ' '), value: p.size })),
        { title: `Compressed size of ${tag} at each push`, format: formatSize },
      ),
      pushCount: pushes.length,
      otherTags: (await listHubTags(deps.db, deps.storage, repo.id, { limit: 100, offset: 0 })).results
        .map((t) => t.name)
        .filter((t) => t !== tag),
    });
  });

  // Two tags side by side: layers shared, added and removed, and the size difference.
  app.get('/r/:ns/:name/compare', async (req, reply) => {
    const name = repoName(req);
    await getRepository(deps.db, actionsOf(deps), req.viewer.account, name);
    const query = new URLSearchParams(req.url.split('?')[1] ?? '');
    const a = query.get('a') ?? '';
    const b = query.get('b') ?? '';
    const image = async (tag: string) => {
      const found = tag ? await tagImage(deps.db, deps.storage, name, tag) : undefined;
      // A multi-platform tag is compared by its first platform.
      if (found?.kind === 'index') {
        const first = found.platforms[0];
        return first ? tagImage(deps.db, deps.storage, name, first.digest) : undefined;
      }
      return found;
    };
    const [ia, ib] = [await image(a), await image(b)];
    if (!ia || !ib || ia.kind !== 'image' || ib.kind !== 'image') throw new NotFound();
    const inA = new Set(ia.layers.map((l) => l.digest));
    const inB = new Set(ib.layers.map((l) => l.digest));
    const shared = ib.layers.filter((l) => inA.has(l.digest));
    const added = ib.layers.filter((l) => !inA.has(l.digest));
    const removed = ia.layers.filter((l) => !inB.has(l.digest));
    const diff = ib.size - ia.size;
    return page(req, reply, 'compare', {
      title: `${pullName(name)}: ${a} → ${b}`,
      name: pullName(name),
      path: repoPath(name),
      a,
      b,
      sizeA: formatSize(ia.size),
      sizeB: formatSize(ib.size),
      diff: `${diff > 0 ? '+' : diff < 0 ? '−' : '±'}${formatSize(Math.abs(diff))}`,
      shared,
      added,
      removed,
      formatSize,
    });
  });
}
