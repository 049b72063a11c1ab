import { isValidRepositoryName } from '../../oci/name.js';
import { fail } from '../../registry/errors.js';
import { type Handler, sendBlobCreated, type V2Deps, type V2Request } from './request.js';

/** Upload sessions: POST /v2/<name>/blobs/uploads/ (with mount or monolithic digest), then GET/PATCH/PUT/DELETE on the id. */
export function uploadHandlers({ uploads }: V2Deps) {
  const uploadLocation = (name: string, id: string) => `/v2/${name}/blobs/uploads/${id}`;

  const sendUploadStatus = async (r: V2Request, id: string, status: number, size?: number) => {
    const bytes = size ?? (await uploads.size(id));
    r.reply
      .status(status)
      .header('Location', uploadLocation(r.name, id))
      .header('Range', `0-${Math.max(bytes - 1, 0)}`)
      .header('Docker-Upload-UUID', id)
      .header('Content-Length', '0')
      .send();
  };

  const uploadStart: Handler = async (r) => {
    const mount = r.query.get('mount');
    const from = r.query.get('from');
    if (mount !== null && from !== null) {
      if (!isValidRepositoryName(from)) fail('NAME_INVALID', { detail: { name: from } });
      // A blob the caller may not read elsewhere is uploaded, never mounted: no existence leak.
      if ((await r.principal.canPull(from)) && (await uploads.mount(r.name, mount, from))) {
        return sendBlobCreated(r, mount);
      }
    }
    const digest = r.query.get('digest');
    const id = await uploads.start(r.name);
    if (digest !== null) {
      await uploads.finish(r.name, id, digest, r.req.raw);
      return sendBlobCreated(r, digest);
    }
    return sendUploadStatus(r, id, 202, 0);
  };

  const uploadStatus: Handler = async (r) => {
    await uploads.get(r.name, r.param);
    return sendUploadStatus(r, r.param, 204);
  };

  const uploadPatch: Handler = async (r) => {
    const header = r.req.headers['content-range'];
    let range: { start: number; end: number } | undefined;
    if (header !== undefined) {
      const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
      if (!m) fail('RANGE_INVALID', { detail: { contentRange: header } });
      range = { start: Number(m[1]), end: Number(m[2]) };
    }
    const lengthHeader = r.req.headers['content-length'];
    const size = await uploads.append(r.name, r.param, r.req.raw, {
      ...(range ? { range } : {}),
      ...(lengthHeader !== undefined ? { length: Number(lengthHeader) } : {}),
    });
    return sendUploadStatus(r, r.param, 202, size);
  };

  const uploadPut: Handler = async (r) => {
    const digest = r.query.get('digest') ?? undefined;
    const hasBody =
      r.req.headers['transfer-encoding'] !== undefined || Number(r.req.headers['content-length'] ?? 0) > 0;
    await uploads.finish(r.name, r.param, digest, hasBody ? r.req.raw : undefined);
    return sendBlobCreated(r, digest as string);
  };

  const uploadDelete: Handler = async (r) => {
    await uploads.cancel(r.name, r.param);
    r.reply.status(204).header('Content-Length', '0').send();
  };

  return { uploadStart, uploadStatus, uploadPatch, uploadPut, uploadDelete };
}
