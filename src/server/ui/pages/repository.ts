// The repository page (description, tags, docker pull command, star) and a tag's layers and history.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { getRepository } from '../../../hub/repositories.js';
import { hasStarred } from '../../../hub/stars.js';
import { listHubTags } from '../../../hub/tags.js';
import { actionsOf, NotFound, page, type UiDeps } from '../context.js';
import { formatSize, pullName } from '../data.js';
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

export async function repositoryPages(app: FastifyInstance, deps: UiDeps): Promise<void> {
  app.get('/r/:ns/:name', async (req, reply) => {
    const name = repoName(req);
    const { account } = req.viewer;
    const repo = await getRepository(deps.db, actionsOf(deps), account, name);
    // Docker Hub's tag shape: per-platform images, and the tag's own vs shared bytes.
    const tags = (await listHubTags(deps.db, deps.storage, repo.id, { limit: 100, offset: 0 })).results.map((t) => ({
      name: t.name,
      digest: t.digest,
      platforms: t.images.map(
        (im) => `${[im.os, im.architecture, im.variant].filter(Boolean).join('/')} (${formatSize(im.size)})`,
      ),
      size: formatSize(t.full_size),
      own: formatSize(t.own_size),
      shared: formatSize(t.shared_size),
      pushed: t.tag_last_pushed ?? t.last_updated,
    }));
    const starred = account ? await hasStarred(deps.db, repo.id, account.id) : false;
    const host = req.headers.host ?? req.hostname;
    return page(req, reply, 'repository', {
      title: repo.displayName,
      repo,
      path: repoPath(repo.fullName),
      pull: `docker pull ${host}/${repo.displayName}`,
      descriptionHtml: renderMarkdown(repo.fullDescription),
      tags,
      starred,
      canStar: Boolean(account),
      canAdmin: repo.permissions.admin,
      origin: await deps.proxy?.originOf(repo.fullName),
    });
  });

  app.get('/r/:ns/:name/tags/:tag', async (req, reply) => {
    const name = repoName(req);
    await getRepository(deps.db, actionsOf(deps), req.viewer.account, name);
    const { tag } = req.params as { tag: string };
    const digest = new URLSearchParams(req.url.split('?')[1] ?? '').get('digest');
    // A platform of a multi-platform tag is shown by its digest, within the same repository.
    const image = await tagImage(deps.db, deps.storage, name, digest?.startsWith('sha256:') ? digest : tag);
    if (!image) throw new NotFound();
    const host = req.headers.host ?? req.hostname;
    return page(req, reply, 'tag', {
      title: `${pullName(name)}:${tag}`,
      name,
      path: repoPath(name),
      tag,
      image,
      formatSize,
      pull: `docker pull ${host}/${pullName(name)}:${tag}`,
    });
  });
}
