import { request } from 'node:http';
import { PassThrough } from 'node:stream';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import type { WharfServer } from '../../src/server/app.js';
import { errorCodes, pushBlob, pushImage } from '../support/push.js';
import { memoryServer } from '../support/server.js';
import { waitFor } from '../support/tools.js';

/** Every /v2 error code, each produced by the bad request that causes it, with Distribution's status. */
describe('registry error codes', () => {
  let server: WharfServer;
  let readOnly: WharfServer;
  const inject = (opts: InjectOptions) => server.app.inject(opts);

  beforeAll(async () => {
    server = await memoryServer({ WHARF_LIMITS_MAX_MANIFEST_SIZE: '1KiB' });
    readOnly = await memoryServer({ WHARF_STORAGE_DELETE_ENABLED: 'false' });
    await pushImage(server.app, 'app', 'v1');
    await pushImage(readOnly.app, 'app', 'v1');
  });
  afterAll(async () => {
    await server.close();
    await readOnly.close();
  });

  const expectError = (
    res: { statusCode: number; body: string; headers: Record<string, unknown> },
    status: number,
    code: string,
  ) => {
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(errorCodes(res.body)).toEqual([code]);
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
  };

  const startUpload = async (repo = 'app') => {
    const res = await inject({ method: 'POST', url: `/v2/${repo}/blobs/uploads/` });
    expect(res.statusCode).toBe(202);
    return res.headers.location as string;
  };

  it('BLOB_UNKNOWN: a blob that was never pushed', async () => {
    const res = await inject({ method: 'GET', url: `/v2/app/blobs/${digestOf('nothing')}` });
    expectError(res, 404, 'BLOB_UNKNOWN');
  });

  it('BLOB_UNKNOWN: a blob pushed to another repository is not readable here', async () => {
    const digest = await pushBlob(server.app, 'other', 'private to other');
    const res = await inject({ method: 'GET', url: `/v2/app/blobs/${digest}` });
    expectError(res, 404, 'BLOB_UNKNOWN');
  });

  it('BLOB_UPLOAD_UNKNOWN: an upload id that does not exist', async () => {
    const res = await inject({ method: 'GET', url: '/v2/app/blobs/uploads/6f1c0e44-0000-4000-8000-000000000000' });
    expectError(res, 404, 'BLOB_UPLOAD_UNKNOWN');
    const junk = await inject({ method: 'PATCH', url: '/v2/app/blobs/uploads/not-a-uuid', payload: 'x' });
    expectError(junk, 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('BLOB_UPLOAD_UNKNOWN: an upload used from another repository', async () => {
    const location = await startUpload('app');
    const res = await inject({ method: 'GET', url: location.replace('/v2/app/', '/v2/other/') });
    expectError(res, 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('BLOB_UPLOAD_INVALID: a second request on an upload that is still receiving', async () => {
    const location = await startUpload();
    const receiving = server.uploads.active;
    const slow = new PassThrough();
    const first = inject({
      method: 'PATCH',
      url: location,
      headers: { 'content-type': 'application/octet-stream' },
      payload: slow,
    });
    slow.write('first part ');
    await waitFor('the first PATCH to be receiving', () => server.uploads.active > receiving);
    const second = await inject({ method: 'PATCH', url: location, payload: 'interleaved' });
    expectError(second, 404, 'BLOB_UPLOAD_INVALID');
    slow.end('end');
    expect((await first).statusCode).toBe(202);
  });

  it('DIGEST_INVALID: finishing an upload with the wrong digest drops the session', async () => {
    const location = await startUpload();
    await inject({ method: 'PATCH', url: location, payload: 'some bytes' });
    const res = await inject({ method: 'PUT', url: `${location}?digest=${digestOf('other bytes')}` });
    expectError(res, 400, 'DIGEST_INVALID');
    expect((await inject({ method: 'GET', url: `/v2/app/blobs/${digestOf('other bytes')}` })).statusCode).toBe(404);
    expect((await inject({ method: 'GET', url: location })).statusCode).toBe(404);
  });

  it('DIGEST_INVALID: malformed or missing digests', async () => {
    const location = await startUpload();
    expectError(await inject({ method: 'PUT', url: location }), 400, 'DIGEST_INVALID');
    expectError(await inject({ method: 'PUT', url: `${location}?digest=sha256:abc` }), 400, 'DIGEST_INVALID');
    expectError(
      await inject({ method: 'PUT', url: `${location}?digest=md5:${'a'.repeat(32)}` }),
      400,
      'DIGEST_INVALID',
    );
    expectError(await inject({ method: 'GET', url: '/v2/app/blobs/sha256:XYZ' }), 400, 'DIGEST_INVALID');
  });

  it('DIGEST_INVALID: a manifest PUT by digest whose content has another digest', async () => {
    const res = await inject({
      method: 'PUT',
      url: `/v2/app/manifests/${digestOf('not this')}`,
      headers: { 'content-type': MediaType.ociIndex },
      payload: JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }),
    });
    expectError(res, 400, 'DIGEST_INVALID');
  });

  it('MANIFEST_BLOB_UNKNOWN: a manifest whose layer was never pushed', async () => {
    const config = await pushBlob(server.app, 'app', '{}');
    const res = await inject({
      method: 'PUT',
      url: '/v2/app/manifests/broken',
      headers: { 'content-type': MediaType.ociManifest },
      payload: JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf('missing'), size: 7 }],
      }),
    });
    expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
    expect(JSON.parse(res.body).errors[0].detail).toEqual({ digest: digestOf('missing') });
    expect((await inject({ method: 'GET', url: '/v2/app/manifests/broken' })).statusCode).toBe(404);
  });

  it('MANIFEST_BLOB_UNKNOWN: an index whose child manifest is not in the repository', async () => {
    const res = await inject({
      method: 'PUT',
      url: '/v2/app/manifests/multi',
      headers: { 'content-type': MediaType.ociIndex },
      payload: JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [{ mediaType: MediaType.ociManifest, digest: digestOf('no such manifest'), size: 10 }],
      }),
    });
    expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  it('MANIFEST_INVALID: not JSON, wrong schema, schema1, mismatched media type', async () => {
    const put = (payload: string, contentType: string = MediaType.ociManifest) =>
      inject({ method: 'PUT', url: '/v2/app/manifests/bad', headers: { 'content-type': contentType }, payload });
    expectError(await put('{not json'), 400, 'MANIFEST_INVALID');
    expectError(
      await put(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, layers: [] })),
      400,
      'MANIFEST_INVALID',
    );
    const schema1 = await put(
      JSON.stringify({ schemaVersion: 1, name: 'app', tag: 'bad', fsLayers: [] }),
      MediaType.dockerSchema1Signed,
    );
    expectError(schema1, 400, 'MANIFEST_INVALID');
    expect(JSON.parse(schema1.body).errors[0].message).toMatch(/schema1/);
    expectError(
      await put(
        JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }),
        MediaType.dockerManifest,
      ),
      400,
      'MANIFEST_INVALID',
    );
  });

  it('MANIFEST_UNKNOWN: unknown tag, unknown digest, unknown repository', async () => {
    expectError(await inject({ method: 'GET', url: '/v2/app/manifests/nope' }), 404, 'MANIFEST_UNKNOWN');
    // HEAD answers carry the status only (no body).
    expect((await inject({ method: 'HEAD', url: `/v2/app/manifests/${digestOf('x')}` })).statusCode).toBe(404);
    expectError(await inject({ method: 'GET', url: `/v2/app/manifests/${digestOf('x')}` }), 404, 'MANIFEST_UNKNOWN');
    expectError(await inject({ method: 'GET', url: '/v2/nowhere/manifests/latest' }), 404, 'MANIFEST_UNKNOWN');
  });

  it('NAME_INVALID: uppercase, dot-dot, too long, bad separators', async () => {
    for (const name of ['App', 'a//b', '-a', 'a-', `${'a'.repeat(256)}`, 'a/.b']) {
      expectError(await inject({ method: 'GET', url: `/v2/${name}/tags/list` }), 400, 'NAME_INVALID');
    }
    expectError(
      await inject({ method: 'POST', url: '/v2/app/blobs/uploads/?mount=x&from=Bad/Name' }),
      400,
      'NAME_INVALID',
    );
  });

  it('NAME_INVALID: a literal ../ in the path, as sent on the wire', async () => {
    // inject() normalises URLs, so this one goes over a real socket with the path as is.
    const address = await server.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = new URL(address);
    const get = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path }, (r) => {
          let body = '';
          r.on('data', (c: Buffer) => {
            body += c.toString();
          });
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    for (const path of ['/v2/a/../../etc/tags/list', '/v2/../tags/list', '/v2/a/%2E%2E/b/tags/list']) {
      const res = await get(path);
      expect(res.status).toBe(400);
      expect(errorCodes(res.body)).toEqual(['NAME_INVALID']);
    }
  });

  it('NAME_UNKNOWN: tags of a repository that does not exist', async () => {
    expectError(await inject({ method: 'GET', url: '/v2/no/such/repo/tags/list' }), 404, 'NAME_UNKNOWN');
  });

  it('SIZE_INVALID: a chunk whose Content-Length disagrees with its Content-Range', async () => {
    const location = await startUpload();
    const res = await inject({
      method: 'PATCH',
      url: location,
      headers: { 'content-range': '0-99', 'content-type': 'application/octet-stream' },
      payload: 'only eleven',
    });
    expectError(res, 400, 'SIZE_INVALID');
  });

  it('SIZE_INVALID with 413: a manifest over the size limit is refused before it is stored', async () => {
    const res = await inject({
      method: 'PUT',
      url: '/v2/app/manifests/huge',
      headers: { 'content-type': MediaType.ociIndex },
      payload: JSON.stringify({ schemaVersion: 2, manifests: [], annotations: { pad: 'x'.repeat(2000) } }),
    });
    expectError(res, 413, 'SIZE_INVALID');
    expect((await inject({ method: 'GET', url: '/v2/app/manifests/huge' })).statusCode).toBe(404);
  });

  it('RANGE_INVALID: a chunk that does not start where the upload ends', async () => {
    const location = await startUpload();
    await inject({ method: 'PATCH', url: location, headers: { 'content-range': '0-4' }, payload: 'abcde' });
    const res = await inject({
      method: 'PATCH',
      url: location,
      headers: { 'content-range': '10-14' },
      payload: 'fghij',
    });
    expectError(res, 416, 'RANGE_INVALID');
    const status = await inject({ method: 'GET', url: location });
    expect(status.headers.range).toBe('0-4');
  });

  it('RANGE_INVALID: an unsatisfiable Range on a blob download', async () => {
    const digest = await pushBlob(server.app, 'app', 'twelve bytes');
    const res = await inject({ method: 'GET', url: `/v2/app/blobs/${digest}`, headers: { range: 'bytes=100-200' } });
    expectError(res, 416, 'RANGE_INVALID');
    expect(res.headers['content-range']).toBe('bytes */12');
  });

  it('TAG_INVALID: a manifest PUT to a tag outside the tag grammar', async () => {
    const res = await inject({
      method: 'PUT',
      url: '/v2/app/manifests/-bad-tag',
      headers: { 'content-type': MediaType.ociIndex },
      payload: JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }),
    });
    expectError(res, 400, 'TAG_INVALID');
  });

  it('UNSUPPORTED: deletes when they are disabled, and methods an endpoint does not have', async () => {
    const m = await readOnly.app.inject({ method: 'DELETE', url: '/v2/app/manifests/v1' });
    expectError(m, 405, 'UNSUPPORTED');
    expect((await readOnly.app.inject({ method: 'GET', url: '/v2/app/manifests/v1' })).statusCode).toBe(200);
    const blob = await pushBlob(readOnly.app, 'app', 'kept');
    expectError(await readOnly.app.inject({ method: 'DELETE', url: `/v2/app/blobs/${blob}` }), 405, 'UNSUPPORTED');
    expectError(await inject({ method: 'PATCH', url: '/v2/app/manifests/v1' }), 405, 'UNSUPPORTED');
  });

  it('PAGINATION_NUMBER_INVALID: a page size that is not a number or above the catalog maximum', async () => {
    expectError(await inject({ method: 'GET', url: '/v2/_catalog?n=abc' }), 400, 'PAGINATION_NUMBER_INVALID');
    expectError(await inject({ method: 'GET', url: '/v2/_catalog?n=5000' }), 400, 'PAGINATION_NUMBER_INVALID');
    expectError(await inject({ method: 'GET', url: '/v2/app/tags/list?n=-1' }), 400, 'PAGINATION_NUMBER_INVALID');
  });
});
