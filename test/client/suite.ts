// The registry client's push/pull flows, run against any registry (Wharf in each auth mode, the
// reference registry). Requests go through a recording proxy so the tests can see what went on
// the wire (PATCH chunks, Range on resume, Location query parameters).
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Credentials } from '../../src/client/auth.js';
import { RegistryClient } from '../../src/client/client.js';
import { DigestMismatchError, RegistryClientError } from '../../src/client/errors.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { type BlobGetAction, bytesBlob, HashSink, pushImage, type TestProxy, testBlob, testProxy } from './helpers.js';

export interface SuiteTarget {
  /** host:port of the registry. */
  host: string;
  credentials?: Credentials;
  /**
   * `server`: the registry pages tag lists by itself (it is started with a max of 2);
   * `n`: the test asks for n=2; `none`: the registry does not page tag lists at all.
   */
  tagPaging: 'server' | 'n' | 'none';
}

const MiB = 1024 * 1024;
const big = testBlob(20 * MiB, 'twenty mebibytes');

/**
 * Registers the shared tests in the enclosing describe(). `target()` is read in beforeAll, so the
 * caller may start its registry in its own beforeAll (declared first).
 */
export function clientFlows(target: () => SuiteTarget, prefix: string): void {
  let proxy: TestProxy;
  let client: RegistryClient;
  let blobGet: (index: number) => BlobGetAction = () => 'pass';
  const repo = (name: string) => `${prefix}/${name}`;

  beforeAll(async () => {
    const t = target();
    proxy = await testProxy(t.host, { blobGet: (i) => blobGet(i), cutAfter: 3 * MiB + 12_345 });
    client = new RegistryClient({ host: proxy.host, ...(t.credentials ? { credentials: t.credentials } : {}) });
  });

  afterAll(async () => {
    await client?.close();
    await proxy?.close();
  });

  const requests = (since: number) => proxy.seen.slice(since).filter((r) => !r.path.startsWith('/token'));

  it('pings over plain HTTP (loopback is insecure) and learns how to authenticate', async () => {
    const ping = await client.ping();
    expect(ping.origin).toBe(`http://${proxy.host}`);
    expect([200, 401]).toContain(ping.status);
  });

  it('pushes a small blob with POST then PUT ?digest= (HEAD first), then finds it there', async () => {
    const blob = bytesBlob(`small blob of ${prefix}`);
    const mark = proxy.seen.length;
    expect(await client.pushBlob(repo('small'), blob.digest, blob.size, blob.open)).toBe('pushed');
    const wire = requests(mark).map(
      (r) => `${r.method} ${r.path.split('?')[0]?.replace(/uploads\/[^/]+$/, 'uploads/ID')}`,
    );
    expect(wire).toEqual([
      `HEAD /v2/${repo('small')}/blobs/${blob.digest}`,
      `POST /v2/${repo('small')}/blobs/uploads/`,
      `PUT /v2/${repo('small')}/blobs/uploads/ID`,
    ]);
    expect(requests(mark).at(-1)?.path).toContain(`digest=${encodeURIComponent(blob.digest)}`);
    expect(await client.pushBlob(repo('small'), blob.digest, blob.size, blob.open)).toBe('exists');
    expect(await client.blobExists(repo('small'), blob.digest)).toBe(blob.size);
    expect(await client.blobExists(repo('small'), bytesBlob('never pushed').digest)).toBeUndefined();
    const sink = new HashSink();
    await client.pullBlob(repo('small'), blob.digest, blob.size, sink);
    expect(sink.digest()).toBe(blob.digest);
  });

  it('streams content of unknown digest: POST, one PATCH without Content-Range, PUT ?digest= of what was sent', async () => {
    const blob = bytesBlob(`streamed blob of ${prefix}\n`.repeat(5000));
    const mark = proxy.seen.length;
    let progress = 0;
    const result = await client.pushStream(repo('stream'), await blob.open(), {
      onProgress: (n) => {
        progress = n;
      },
    });
    expect(result).toEqual({ digest: blob.digest, size: blob.size });
    expect(progress).toBe(blob.size);
    const wire = requests(mark).map(
      (r) => `${r.method} ${r.path.split('?')[0]?.replace(/uploads\/[^/]+$/, 'uploads/ID')} ${r.contentRange ?? '-'}`,
    );
    expect(wire).toEqual([
      `POST /v2/${repo('stream')}/blobs/uploads/ -`,
      `PATCH /v2/${repo('stream')}/blobs/uploads/ID -`,
      `PUT /v2/${repo('stream')}/blobs/uploads/ID -`,
    ]);
    expect(requests(mark).at(-1)?.path).toContain(`digest=${encodeURIComponent(blob.digest)}`);
    expect(await client.blobExists(repo('stream'), blob.digest)).toBe(blob.size);
  });

  it('pushes a 20 MiB blob in 16 MiB PATCH chunks with Content-Range, and pulls it back', async () => {
    const mark = proxy.seen.length;
    let progress = 0;
    const result = await client.pushBlob(repo('big'), big.digest, big.size, big.open, {
      onProgress: (n) => {
        progress = n;
      },
    });
    expect(result).toBe('pushed');
    expect(progress).toBe(big.size);
    const patches = requests(mark).filter((r) => r.method === 'PATCH');
    expect(patches.map((p) => p.contentRange)).toEqual([`0-${16 * MiB - 1}`, `${16 * MiB}-${20 * MiB - 1}`]);
    const put = requests(mark).find((r) => r.method === 'PUT');
    expect(put?.path).toContain(`digest=${encodeURIComponent(big.digest)}`);
    expect(await client.blobExists(repo('big'), big.digest)).toBe(big.size);
    const sink = new HashSink();
    await client.pullBlob(repo('big'), big.digest, big.size, sink);
    expect(sink.digest()).toBe(big.digest);
    expect(sink.size).toBe(big.size);
  });

  it('reports what the registry says of a wrong digest, and a source shorter than its size', async () => {
    const blob = bytesBlob(`wrong digest ${prefix}`);
    const wrong = bytesBlob('something else').digest;
    const err = await client.pushBlob(repo('bad'), wrong, blob.size, blob.open).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryClientError);
    expect((err as RegistryClientError).status).toBe(400);
    expect((err as RegistryClientError).message).toMatch(/^digest invalid: /);
    const short = await client.pushBlob(repo('bad'), blob.digest, blob.size + 10, blob.open).catch((e: unknown) => e);
    expect(short).toBeInstanceOf(RegistryClientError);
    expect((short as Error).message).toBe(`blob content ended after ${blob.size} of ${blob.size + 10} bytes`);
    expect(await client.blobExists(repo('bad'), blob.digest)).toBeUndefined();
    const shortChunked = await client
      .pushBlob(repo('bad'), blob.digest, blob.size + 10, blob.open, { monolithicLimit: 1, chunkSize: 8 })
      .catch((e: unknown) => e);
    expect((shortChunked as Error).message).toBe(`blob content ended after ${blob.size} of ${blob.size + 10} bytes`);
    expect(await client.blobExists(repo('bad'), blob.digest)).toBeUndefined();
  });

  it('mounts a blob across repositories (201), and uploads when the source does not have it (202)', async () => {
    expect(await client.mountBlob(repo('mounted'), big.digest, repo('big'))).toBe(true);
    expect(await client.blobExists(repo('mounted'), big.digest)).toBe(big.size);
    const other = bytesBlob(`not anywhere yet ${prefix}`);
    const mark = proxy.seen.length;
    expect(await client.mountBlob(repo('mounted'), other.digest, repo('does-not-exist'))).toBe(false);
    // The session opened instead of the mount is cancelled.
    expect(requests(mark).map((r) => r.method)).toEqual(['POST', 'DELETE']);
    expect(
      await client.pushBlob(repo('mounted'), other.digest, other.size, other.open, {
        mountFrom: [repo('does-not-exist')],
      }),
    ).toBe('pushed');
    expect(
      await client.pushBlob(repo('mounted-too'), other.digest, other.size, other.open, {
        mountFrom: [repo('mounted')],
      }),
    ).toBe('mounted');
  });

  it('pushes an OCI manifest and gets it back by tag and by digest (verified)', async () => {
    const image = await pushImage(client, repo('app'), 'v1');
    const byTag = await client.getManifest(repo('app'), 'v1');
    expect(byTag).toEqual({ mediaType: MediaType.ociManifest, digest: image.digest, bytes: image.bytes });
    const byDigest = await client.getManifest(repo('app'), image.digest);
    expect(byDigest.bytes.equals(image.bytes)).toBe(true);
    expect(await client.headManifest(repo('app'), 'v1')).toEqual({
      mediaType: MediaType.ociManifest,
      digest: image.digest,
      size: image.bytes.length,
    });
    expect(await client.headManifest(repo('app'), 'nope')).toBeUndefined();
    const err = await client.getManifest(repo('app'), 'nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryClientError);
    expect((err as RegistryClientError).message).toBe('manifest unknown: manifest unknown');
    expect((err as RegistryClientError).status).toBe(404);
  });

  it('lists tags across Link pages', async () => {
    const tags = ['a1', 'b2', 'c3', 'd4', 'e5'];
    const image = await pushImage(client, repo('tags'), 'a1');
    for (const tag of tags.slice(1)) await client.putManifest(repo('tags'), tag, image.bytes, MediaType.ociManifest);
    const mark = proxy.seen.length;
    const listed = await client.listTags(repo('tags'), target().tagPaging === 'server' ? {} : { pageSize: 2 });
    const pages = requests(mark).filter((r) => r.path.includes('/tags/list'));
    if (target().tagPaging === 'none') {
      // Distribution 2.8 ignores n= on tag lists and answers every tag, in directory order.
      expect([...listed].sort()).toEqual(tags);
      expect(pages.length).toBe(1);
      return;
    }
    expect(listed).toEqual(tags);
    expect(pages.length).toBe(3);
    expect(pages[1]?.path).toContain('last=b2');
  });

  it('resumes a pull with Range after the connection breaks mid-body', async () => {
    let gets = 0;
    blobGet = () => (gets++ === 0 ? 'cut' : 'pass');
    const mark = proxy.blobRanges().length;
    const cutsBefore = proxy.cuts.length;
    try {
      const sink = new HashSink();
      await client.pullBlob(repo('big'), big.digest, big.size, sink);
      expect(sink.digest()).toBe(big.digest);
      expect(sink.size).toBe(big.size);
    } finally {
      blobGet = () => 'pass';
    }
    const ranges = proxy.blobRanges().slice(mark);
    expect(proxy.cuts.length).toBe(cutsBefore + 1);
    expect(ranges).toHaveLength(2);
    expect(ranges[0]).toBeUndefined();
    // Resumed from what had arrived (the proxy cut the body after 3 MiB + 12345 bytes).
    expect(ranges[1]).toMatch(/^bytes=\d+-$/);
    const from = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? '')?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(3 * MiB + 12_345);
  });

  it('gives up after 3 retries of a connection that keeps breaking', async () => {
    blobGet = () => 'cut';
    const mark = proxy.blobRanges().length;
    try {
      const err = await client.pullBlob(repo('big'), big.digest, big.size, new HashSink()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryClientError);
      expect((err as Error).message).toMatch(/^download of sha256:[0-9a-f]{64} failed after \d+ of 20971520 bytes/);
    } finally {
      blobGet = () => 'pass';
    }
    expect(proxy.blobRanges().length - mark).toBe(4);
  });

  it('fails a pull whose content does not match the digest', async () => {
    blobGet = () => 'corrupt';
    try {
      const blob = bytesBlob(`small blob of ${prefix}`);
      const err = await client.pullBlob(repo('small'), blob.digest, blob.size, new HashSink()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DigestMismatchError);
      expect((err as Error).message).toBe(`filesystem layer verification failed for digest ${blob.digest}`);
    } finally {
      blobGet = () => 'pass';
    }
  });

  it('reads a blob from an offset with a Range request answered 206', async () => {
    const blob = bytesBlob(`small blob of ${prefix}`);
    const body = await client.getBlob(repo('small'), blob.digest, { offset: 6 });
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe(`small blob of ${prefix}`.slice(6));
  });
}
