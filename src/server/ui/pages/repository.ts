// The repository page (description, tags, docker pull command, star) and a tag's layers and history.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { getRepository } from '../../../hub/repositories.js';
import { hasStarred } from '../../../hub/stars.js';
import { listTags } from '../../../metadata/tags.js';
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
    const tags = [];
    for (const tag of await listTags(deps.db, repo.id, 100)) {
      const image = await tagImage(deps.db, deps.storage, repo.fullName, tag);
      if (!image) continue;
      const row = await deps.db
        .selectFrom('tags')
        .select(['pushed_at', 'updated_at'])
        .where('repository_id', '=', repo.id)
        .where('name', '=', tag)
        .executeTakeFirst();
      tags.push({
        name: tag,
        digest: image.digest,
        platforms:
          image.kind === 'index'
            ? image.platforms.map((p) => `${p.platform} (${formatSize(p.size)})`)
            : [`${image.platform} (${formatSize(image.size)})`],
        size: image.kind === 'image' ? formatSize(image.size) : '',
        pushed: row?.pushed_at ?? row?.updated_at ?? '',
      });
    }
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
