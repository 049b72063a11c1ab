import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, parseDigest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import type { WharfServer } from '../../src/server/app.js';
import { paths } from '../../src/storage/paths.js';
import { errorCodes, pushBlob, pushImage } from '../support/push.js';
import { memoryServer } from '../support/server.js';

describe('registry API', () => {
  let server: WharfServer;
  const inject = (opts: InjectOptions) => server.app.inject(opts);

  beforeAll(async () => {
    server = await memoryServer();
  });
  afterAll(() => server.close());

  it('GET /v2/ answers 200 {} with the API version header', async () => {
    const res = await inject({ method: 'GET', url: '/v2/' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({});
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
  });

  describe('blobs and uploads', () => {
    it('a monolithic upload is readable with its digest, size and ETag', async () => {
      const digest = await pushBlob(server.app, 'blobs/mono', 'hello world');
      const head = await inject({ method: 'HEAD', url: `/v2/blobs/mono/blobs/${digest}` });
      expect(head.statusCode).toBe(200);
      expect(head.headers['content-length']).toBe('11');
      expect(head.headers['docker-content-digest']).toBe(digest);
      expect(head.headers.etag).toBe(`"${digest}"`);
      expect(head.body).toBe('');
      const get = await inject({ method: 'GET', url: `/v2/blobs/mono/blobs/${digest}` });
      expect(get.body).toBe('hello world');
      expect(get.headers['content-type']).toBe('application/octet-stream');
    });

    it('a chunked upload: POST, PATCHes with Content-Range, status, PUT with the digest', async () => {
      const start = await inject({ method: 'POST', url: '/v2/blobs/chunked/blobs/uploads/' });
      expect(start.statusCode).toBe(202);
      expect(start.headers.range).toBe('0-0');
      const location = start.headers.location as string;
      expect(location).toMatch(/^\/v2\/blobs\/chunked\/blobs\/uploads\/[0-9a-f-]{36}$/);
      expect(start.headers['docker-upload-uuid']).toBe(location.split('/').pop());

      const p1 = await inject({
        method: 'PATCH',
        url: location,
        headers: { 'content-range': '0-4' },
        payload: 'hello',
      });
      expect(p1.statusCode).toBe(202);
      expect(p1.headers.range).toBe('0-4');
      // A streamed chunk without Content-Range is appended too.
      const p2 = await inject({ method: 'PATCH', url: location, payload: ' chunked' });
      expect(p2.headers.range).toBe('0-12');
      const status = await inject({ method: 'GET', url: location });
      expect(status.statusCode).toBe(204);
      expect(status.headers.range).toBe('0-12');

      const digest = digestOf('hello chunked world');
      const done = await inject({ method: 'PUT', url: `${location}?digest=${digest}`, payload: ' world' });
      expect(done.statusCode).toBe(201);
      expect(done.headers.location).toBe(`/v2/blobs/chunked/blobs/${digest}`);
      expect(done.headers['docker-content-digest']).toBe(digest);
      const get = await inject({ method: 'GET', url: `/v2/blobs/chunked/blobs/${digest}` });
      expect(get.body).toBe('hello chunked world');
      // The session is gone once the blob is committed.
      expect((await inject({ method: 'GET', url: location })).statusCode).toBe(404);
    });

    it('a cancelled upload is gone', async () => {
      const start = await inject({ method: 'POST', url: '/v2/blobs/cancel/blobs/uploads/' });
      const location = start.headers.location as string;
      await inject({ method: 'PATCH', url: location, payload: 'partial' });
      expect((await inject({ method: 'DELETE', url: location })).statusCode).toBe(204);
      expect(errorCodes((await inject({ method: 'GET', url: location })).body)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
    });

    it('Range requests: start-end, open end and suffix', async () => {
      const digest = await pushBlob(server.app, 'blobs/range', '0123456789');
      const get = (range: string) =>
        inject({ method: 'GET', url: `/v2/blobs/range/blobs/${digest}`, headers: { range } });
      const a = await get('bytes=2-5');
      expect(a.statusCode).toBe(206);
      expect(a.body).toBe('2345');
      expect(a.headers['content-range']).toBe('bytes 2-5/10');
      expect(a.headers['content-length']).toBe('4');
      expect((await get('bytes=7-')).body).toBe('789');
      expect((await get('bytes=-3')).body).toBe('789');
      expect((await get('bytes=8-100')).body).toBe('89');
    });

    it('sha512 digests are accepted for blobs', async () => {
      const data = 'sha512 content';
      const digest = digestOf(data, 'sha512');
      const res = await inject({
        method: 'POST',
        url: `/v2/blobs/sha512/blobs/uploads/?digest=${digest}`,
        payload: data,
      });
      expect(res.statusCode).toBe(201);
      expect((await inject({ method: 'GET', url: `/v2/blobs/sha512/blobs/${digest}` })).body).toBe(data);
    });

    it('a sha512 upload whose bytes have another digest is refused (DIGEST_INVALID) and stores nothing', async () => {
      const { storage } = server.ctx;
      const sessions = () => storage.list('/uploads').catch(() => [] as string[]);
      const before = await sessions();
      const data = 'sha512 bytes';
      const claimed = digestOf('other sha512 bytes', 'sha512');
      const actual = digestOf(data, 'sha512');
      // Monolithic: POST ?digest= with the bytes.
      const mono = await inject({
        method: 'POST',
        url: `/v2/blobs/sha512-wrong/blobs/uploads/?digest=${claimed}`,
        payload: data,
      });
      expect(mono.statusCode).toBe(400);
      expect(errorCodes(mono.body)).toEqual(['DIGEST_INVALID']);
      // Chunked: PATCH the bytes, then PUT ?digest=.
      const location = (await inject({ method: 'POST', url: '/v2/blobs/sha512-wrong/blobs/uploads/' })).headers
        .location as string;
      expect((await inject({ method: 'PATCH', url: location, payload: data })).statusCode).toBe(202);
      const put = await inject({ method: 'PUT', url: `${location}?digest=${claimed}` });
      expect(put.statusCode).toBe(400);
      expect(errorCodes(put.body)).toEqual(['DIGEST_INVALID']);
      // Nothing under either digest, in the API or in storage, and no session bytes left.
      expect((await inject({ method: 'GET', url: location })).statusCode).toBe(404);
      for (const digest of [claimed, actual]) {
        const head = await inject({ method: 'HEAD', url: `/v2/blobs/sha512-wrong/blobs/${digest}` });
        expect(head.statusCode).toBe(404);
        const parsed = parseDigest(digest);
        if (!parsed) throw new Error(`not a digest: ${digest}`);
        await expect(storage.stat(paths.blob(parsed))).rejects.toThrow();
      }
      expect(await sessions()).toEqual(before);
    });

    it('cross-repository mount links an existing blob without upload, else opens a session', async () => {
      const digest = await pushBlob(server.app, 'blobs/source', 'shared layer');
      const mount = await inject({
        method: 'POST',
        url: `/v2/blobs/target/blobs/uploads/?mount=${digest}&from=blobs/source`,
      });
      expect(mount.statusCode).toBe(201);
      expect(mount.headers.location).toBe(`/v2/blobs/target/blobs/${digest}`);
      expect((await inject({ method: 'GET', url: `/v2/blobs/target/blobs/${digest}` })).body).toBe('shared layer');

      const missing = digestOf('not anywhere');
      const fallback = await inject({
        method: 'POST',
        url: `/v2/blobs/target/blobs/uploads/?mount=${missing}&from=blobs/source`,
      });
      expect(fallback.statusCode).toBe(202);
      expect(fallback.headers.location).toMatch(/\/blobs\/uploads\//);
      // A repository cannot mount from one that does not have the blob linked.
      const other = await pushBlob(server.app, 'blobs/elsewhere', 'not in source');
      const denied = await inject({
        method: 'POST',
        url: `/v2/blobs/target/blobs/uploads/?mount=${other}&from=blobs/source`,
      });
      expect(denied.statusCode).toBe(202);
    });

    it('a blob pushed to two repositories is stored once', async () => {
      const digest = await pushBlob(server.app, 'dedupe/one', 'same bytes');
      await pushBlob(server.app, 'dedupe/two', 'same bytes');
      const hex = digest.slice('sha256:'.length);
      const files = await server.ctx.storage.list(`/blobs/sha256/${hex.slice(0, 2)}`);
      expect(files.filter((f) => f.endsWith(hex))).toHaveLength(1);
    });

    it('DELETE unlinks a blob from one repository only', async () => {
      const digest = await pushBlob(server.app, 'del/a', 'deletable');
      await pushBlob(server.app, 'del/b', 'deletable');
      expect((await inject({ method: 'DELETE', url: `/v2/del/a/blobs/${digest}` })).statusCode).toBe(202);
      expect((await inject({ method: 'HEAD', url: `/v2/del/a/blobs/${digest}` })).statusCode).toBe(404);
      expect((await inject({ method: 'HEAD', url: `/v2/del/b/blobs/${digest}` })).statusCode).toBe(200);
    });
  });

  describe('manifests', () => {
    it('PUT by tag, then GET by tag and by digest returns the exact bytes', async () => {
      const img = await pushImage(server.app, 'man/app', 'v1');
      for (const ref of ['v1', img.digest]) {
        const res = await inject({
          method: 'GET',
          url: `/v2/man/app/manifests/${ref}`,
          headers: { accept: MediaType.ociManifest },
        });
        expect(res.statusCode).toBe(200);
        expect(res.rawPayload.equals(img.body)).toBe(true);
        expect(res.headers['content-type']).toBe(MediaType.ociManifest);
        expect(res.headers['docker-content-digest']).toBe(img.digest);
        expect(res.headers.etag).toBe(`"${img.digest}"`);
      }
      const head = await inject({ method: 'HEAD', url: '/v2/man/app/manifests/v1' });
      expect(head.statusCode).toBe(200);
      expect(head.headers['content-length']).toBe(String(img.body.length));
      expect(head.body).toBe('');
      const cached = await inject({
        method: 'GET',
        url: '/v2/man/app/manifests/v1',
        headers: { 'if-none-match': `"${img.digest}"` },
      });
      expect(cached.statusCode).toBe(304);
    });

    it('Docker schema2 manifests and manifest lists are stored with their media type', async () => {
      const img = await pushImage(server.app, 'man/docker', 'v1', { mediaType: MediaType.dockerManifest });
      const list = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.dockerManifestList,
          manifests: [
            {
              mediaType: MediaType.dockerManifest,
              digest: img.digest,
              size: img.body.length,
              platform: { architecture: 'amd64', os: 'linux' },
            },
          ],
        }),
      );
      const put = await inject({
        method: 'PUT',
        url: '/v2/man/docker/manifests/multi',
        headers: { 'content-type': MediaType.dockerManifestList },
        payload: list,
      });
      expect(put.statusCode).toBe(201);
      const get = await inject({
        method: 'GET',
        url: '/v2/man/docker/manifests/multi',
        headers: { accept: MediaType.dockerManifestList },
      });
      expect(get.headers['content-type']).toBe(MediaType.dockerManifestList);
      expect(get.rawPayload.equals(list)).toBe(true);
    });

    it('content negotiation: an OCI manifest is not served by tag to a client that does not accept it', async () => {
      await pushImage(server.app, 'man/negotiate', 'v1');
      const res = await inject({
        method: 'GET',
        url: '/v2/man/negotiate/manifests/v1',
        headers: { accept: MediaType.dockerManifest },
      });
      expect(res.statusCode).toBe(404);
      expect(errorCodes(res.body)).toEqual(['MANIFEST_UNKNOWN']);
      const any = await inject({ method: 'GET', url: '/v2/man/negotiate/manifests/v1', headers: { accept: '*/*' } });
      expect(any.statusCode).toBe(200);
    });

    it('PUT by digest with ?tag= sets several tags and answers OCI-Tag', async () => {
      const img = await pushImage(server.app, 'man/tags', 'base');
      const res = await inject({
        method: 'PUT',
        url: `/v2/man/tags/manifests/${img.digest}?tag=a&tag=b`,
        headers: { 'content-type': MediaType.ociManifest },
        payload: img.body,
      });
      expect(res.statusCode).toBe(201);
      expect(res.headers['oci-tag']).toEqual(['a', 'b']);
      const tags = await inject({ method: 'GET', url: '/v2/man/tags/tags/list' });
      expect(tags.json()).toEqual({ name: 'man/tags', tags: ['a', 'b', 'base'] });
    });

    it('DELETE by tag untags only; DELETE by digest removes the manifest and its tags', async () => {
      const img = await pushImage(server.app, 'man/delete', 'v1');
      await inject({
        method: 'PUT',
        url: '/v2/man/delete/manifests/v2',
        headers: { 'content-type': MediaType.ociManifest },
        payload: img.body,
      });
      expect((await inject({ method: 'DELETE', url: '/v2/man/delete/manifests/v1' })).statusCode).toBe(202);
      expect((await inject({ method: 'GET', url: '/v2/man/delete/manifests/v1' })).statusCode).toBe(404);
      expect((await inject({ method: 'GET', url: `/v2/man/delete/manifests/${img.digest}` })).statusCode).toBe(200);
      expect((await inject({ method: 'GET', url: '/v2/man/delete/manifests/v2' })).statusCode).toBe(200);

      expect((await inject({ method: 'DELETE', url: `/v2/man/delete/manifests/${img.digest}` })).statusCode).toBe(202);
      expect((await inject({ method: 'GET', url: '/v2/man/delete/manifests/v2' })).statusCode).toBe(404);
      expect((await inject({ method: 'GET', url: '/v2/man/delete/tags/list' })).json().tags).toEqual([]);
    });

    it('a manifest can be addressed by a sha512 digest', async () => {
      const img = await pushImage(server.app, 'man/sha512', 'v1');
      const digest = digestOf(img.body, 'sha512');
      const put = await inject({
        method: 'PUT',
        url: `/v2/man/sha512/manifests/${digest}`,
        headers: { 'content-type': MediaType.ociManifest },
        payload: img.body,
      });
      expect(put.statusCode).toBe(201);
      expect(put.headers['docker-content-digest']).toBe(digest);
      expect(
        (await inject({ method: 'GET', url: `/v2/man/sha512/manifests/${digest}` })).rawPayload.equals(img.body),
      ).toBe(true);
    });
  });

  describe('listing', () => {
    it('tags are sorted and paginated with n, last and a Link header', async () => {
      const img = await pushImage(server.app, 'list/tags', 't3');
      for (const t of ['t1', 't5', 't2', 't4']) {
        await inject({
          method: 'PUT',
          url: `/v2/list/tags/manifests/${t}`,
          headers: { 'content-type': MediaType.ociManifest },
          payload: img.body,
        });
      }
      const all = await inject({ method: 'GET', url: '/v2/list/tags/tags/list' });
      expect(all.json().tags).toEqual(['t1', 't2', 't3', 't4', 't5']);
      expect(all.headers.link).toBeUndefined();
      const first = await inject({ method: 'GET', url: '/v2/list/tags/tags/list?n=2' });
      expect(first.json().tags).toEqual(['t1', 't2']);
      expect(first.headers.link).toBe('</v2/list/tags/tags/list?n=2&last=t2>; rel="next"');
      const second = await inject({ method: 'GET', url: '/v2/list/tags/tags/list?n=2&last=t2' });
      expect(second.json().tags).toEqual(['t3', 't4']);
      const last = await inject({ method: 'GET', url: '/v2/list/tags/tags/list?n=2&last=t4' });
      expect(last.json().tags).toEqual(['t5']);
      expect(last.headers.link).toBeUndefined();
    });

    it('the catalog is sorted and paginated from the database', async () => {
      const fresh = await memoryServer();
      try {
        for (const name of ['zeta', 'alpha', 'mid/dle', 'beta']) await pushBlob(fresh.app, name, name);
        const all = await fresh.app.inject({ method: 'GET', url: '/v2/_catalog' });
        expect(all.json()).toEqual({ repositories: ['alpha', 'beta', 'mid/dle', 'zeta'] });
        const page = await fresh.app.inject({ method: 'GET', url: '/v2/_catalog?n=2' });
        expect(page.json().repositories).toEqual(['alpha', 'beta']);
        expect(page.headers.link).toBe('</v2/_catalog?n=2&last=beta>; rel="next"');
        const next = await fresh.app.inject({ method: 'GET', url: '/v2/_catalog?n=2&last=beta' });
        expect(next.json().repositories).toEqual(['mid/dle', 'zeta']);
      } finally {
        await fresh.close();
      }
    });
  });

  describe('referrers', () => {
    it('an unknown subject has an empty index, never 404', async () => {
      const res = await inject({ method: 'GET', url: `/v2/ref/app/referrers/${digestOf('nothing')}` });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe(MediaType.ociIndex);
      expect(res.json()).toEqual({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] });
    });

    it('a manifest with a subject gets OCI-Subject and is listed, filterable by artifactType', async () => {
      const subject = await pushImage(server.app, 'ref/app', 'v1');
      const subjectDesc = { mediaType: MediaType.ociManifest, digest: subject.digest, size: subject.body.length };
      const sig = await pushImage(server.app, 'ref/app', 'sig', {
        subject: subjectDesc,
        artifactType: 'application/vnd.example.signature',
      });
      const sbom = await pushImage(server.app, 'ref/app', 'sbom', {
        subject: subjectDesc,
        artifactType: 'application/vnd.example.sbom',
      });
      const put = await inject({
        method: 'PUT',
        url: '/v2/ref/app/manifests/sig2',
        headers: { 'content-type': MediaType.ociManifest },
        payload: sig.body,
      });
      expect(put.headers['oci-subject']).toBe(subject.digest);

      const all = await inject({ method: 'GET', url: `/v2/ref/app/referrers/${subject.digest}` });
      const digests = (all.json().manifests as { digest: string; artifactType: string }[]).map((m) => [
        m.digest,
        m.artifactType,
      ]);
      expect(digests).toEqual(
        expect.arrayContaining([
          [sig.digest, 'application/vnd.example.signature'],
          [sbom.digest, 'application/vnd.example.sbom'],
        ]),
      );
      expect(digests).toHaveLength(2);
      const filtered = await inject({
        method: 'GET',
        url: `/v2/ref/app/referrers/${subject.digest}?artifactType=application/vnd.example.sbom`,
      });
      expect(filtered.headers['oci-filters-applied']).toBe('artifactType');
      expect(filtered.json().manifests.map((m: { digest: string }) => m.digest)).toEqual([sbom.digest]);
    });
  });

  it('/healthz and /metrics', async () => {
    const health = await inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
    await inject({ method: 'GET', url: '/v2/' });
    const metrics = await inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/wharf_http_requests_total\{route="base",method="GET",status="200"\} \d+/);
    expect(metrics.body).toMatch(
      /wharf_http_request_duration_seconds_bucket\{route="manifest",method="PUT",le="\+Inf"\} \d+/,
    );
    expect(metrics.body).toMatch(/wharf_bytes_received_total [1-9]\d*/);
    expect(metrics.body).toMatch(/wharf_bytes_sent_total [1-9]\d*/);
    expect(metrics.body).toMatch(/wharf_uploads_in_progress 0/);
  });
});
