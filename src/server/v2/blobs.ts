import { Writable } from 'node:stream';
import { type BlobInfo, blobRedirectURL, deleteBlob, parseRange, prepareBlob, statBlob } from '../../registry/blobs.js';
import { RegistryError } from '../../registry/errors.js';
import type { Handler, V2Deps, V2Request } from './request.js';

/** GET, HEAD and DELETE of /v2/<name>/blobs/<digest>. HEAD never reads the blob. */
export function blobHandlers({ ctx, proxy }: V2Deps) {
  /** A HEAD in a cache repository: the local blob, or (on a miss) the remote's size, nothing fetched. */
  const statOrRemote = async (r: V2Request): Promise<BlobInfo> => {
    try {
      return await statBlob(ctx, r.name, r.param);
    } catch (err) {
      if (!proxy || !(err instanceof RegistryError) || err.code !== 'BLOB_UNKNOWN') throw err;
      await proxy.ensureBlob(r.name, r.param, undefined);
      const size = await proxy.remoteBlobSize(r.name, r.param);
      if (size === undefined) throw err;
      return { digest: r.param, size };
    }
  };

  const blobHead: Handler = async (r) => {
    const blob = await statOrRemote(r);
    r.reply
      .header('Content-Length', String(blob.size))
      .header('Content-Type', 'application/octet-stream')
      .header('Docker-Content-Digest', blob.digest)
      .header('ETag', `"${blob.digest}"`)
      .header('Accept-Ranges', 'bytes')
      .send();
  };

  const blobGet: Handler = async (r) => {
    // A miss in a cache repository: this request may stream the blob from the remote itself. A
    // Range request lets the whole blob be fetched and verified first, then gets its 206 from the store.
    const ranged = r.req.headers.range !== undefined;
    const sink = ranged
      ? { start: () => discard(), detached: true }
      : { start: (size: number) => startStream(r, size) };
    if (proxy && (await proxy.ensureBlob(r.name, r.param, sink)) && !ranged) return;
    const blob = await statBlob(ctx, r.name, r.param);
    r.reply
      .header('Docker-Content-Digest', blob.digest)
      .header('ETag', `"${blob.digest}"`)
      .header('Accept-Ranges', 'bytes')
      .header('Cache-Control', 'max-age=31536000')
      .header('Content-Type', 'application/octet-stream');
    if (r.req.headers['if-none-match'] === `"${blob.digest}"`) return r.reply.status(304).send();
    // As Distribution's redirect mode: the client fetches the bytes (and any Range) from the store.
    const url = ctx.options.redirect ? await blobRedirectURL(ctx, blob.digest) : undefined;
    if (url) return r.reply.status(307).header('Location', url).header('Content-Length', '0').send();
    let range: ReturnType<typeof parseRange>;
    try {
      range = parseRange(r.req.headers.range, blob.size);
    } catch (err) {
      r.reply.header('Content-Range', `bytes */${blob.size}`);
      throw err;
    }
    const send = await prepareBlob(ctx, blob.digest);
    if (range) {
      r.reply
        .status(206)
        .header('Content-Range', `bytes ${range.start}-${range.end}/${blob.size}`)
        .header('Content-Length', String(range.end - range.start + 1));
    } else {
      r.reply.header('Content-Length', String(blob.size));
    }
    // The bytes go straight to the socket, with reused buffers (see StorageDriver.sendTo).
    r.reply.hijack();
    const res = r.reply.raw;
    for (const [name, value] of Object.entries(r.reply.getHeaders()))
      if (value !== undefined) res.setHeader(name, value);
    res.writeHead(r.reply.statusCode);
    try {
      await send(res, range);
      res.end();
    } catch (err) {
      r.req.log.warn({ err }, 'blob download interrupted');
      res.destroy();
    }
  };

  const blobDelete: Handler = async (r) => {
    await deleteBlob(ctx, r.name, r.param);
    r.reply.status(202).header('Content-Length', '0').send();
  };

  return { blobHead, blobGet, blobDelete };
}

/** Starts a 200 answer for a blob streamed from a remote while it is being cached. */
function startStream(r: V2Request, size: number): Writable {
  r.reply.hijack();
  const res = r.reply.raw;
  for (const [name, value] of Object.entries(r.reply.getHeaders())) if (value !== undefined) res.setHeader(name, value);
  res.writeHead(200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(size),
    'Docker-Content-Digest': r.param,
    ETag: `"${r.param}"`,
  });
  return res;
}

/** Where the bytes of a fill go when its client asked for a range (served from the store after). */
function discard(): Writable {
  return new Writable({ write: (_chunk, _enc, cb) => cb() });
}
