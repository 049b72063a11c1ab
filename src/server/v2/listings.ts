import { MediaType } from '../../oci/mediatypes.js';
import { catalog, type Page, parsePageSize, referrers, tags } from '../../registry/listing.js';
import type { Handler, V2Deps, V2Request } from './request.js';

/** The base endpoint and the lists: /v2/_catalog, /v2/<name>/tags/list, /v2/<name>/referrers/<digest>. */
export function listingHandlers({ ctx }: V2Deps) {
  const baseGet: Handler = async (r) => r.reply.header('Content-Type', 'application/json').send('{}');

  const baseHead: Handler = async (r) =>
    r.reply.header('Content-Type', 'application/json').header('Content-Length', '2').send();

  const catalogGet: Handler = async (r) => {
    const n = parsePageSize(r.query.get('n') ?? undefined);
    const page = await catalog(ctx, await r.principal.catalog(), n, r.query.get('last') ?? undefined);
    sendPage(r, '/v2/_catalog', n, page, { repositories: page.items });
  };

  const tagsGet: Handler = async (r) => {
    const n = parsePageSize(r.query.get('n') ?? undefined);
    const page = await tags(ctx, r.name, n, r.query.get('last') ?? undefined);
    sendPage(r, `/v2/${r.name}/tags/list`, n, page, { name: r.name, tags: page.items });
  };

  const referrersGet: Handler = async (r) => {
    const artifactType = r.query.get('artifactType') ?? undefined;
    const index = await referrers(ctx, r.name, r.param, artifactType);
    if (artifactType !== undefined) r.reply.header('OCI-Filters-Applied', 'artifactType');
    // A Buffer, so that fastify does not append a charset to the media type.
    r.reply.header('Content-Type', MediaType.ociIndex).send(Buffer.from(JSON.stringify(index)));
  };

  return { baseGet, baseHead, catalogGet, tagsGet, referrersGet };
}

function sendPage(r: V2Request, path: string, n: number | undefined, page: Page, body: object): void {
  if (page.next !== undefined) {
    const size = n ?? page.items.length;
    r.reply.header('Link', `<${path}?n=${size}&last=${encodeURIComponent(page.next)}>; rel="next"`);
  }
  r.reply.header('Content-Type', 'application/json').send(JSON.stringify(body));
}
