// A full disk (issue 10): a real `wharf serve` whose data directory is a 40 MiB tmpfs. An upload
// that runs out of space gets a clear error that Docker shows (413 DENIED "storage is full: …"),
// its bytes are released at once and nothing is recorded; a manifest PUT on a full disk (SQLite
// hitting SQLITE_FULL) gets the same error and changes nothing; /healthz and /metrics report the
// low space; a restart on a full disk serves reads; and once space returns, everything works
// again by itself. Mounting a tmpfs needs root.
import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { pushBlob } from '../support/push.js';
import { fillDisk, mountTmpfs } from '../support/root.js';
import { memoryServer, startWharf, type WharfProcess } from '../support/server.js';
import { rootDescribe } from '../support/tools.js';

const TIMEOUT = 120_000;
const MiB = 1024 * 1024;

/** `count` MiB of content (chunk i filled with byte i): streamed, never held whole. */
function* chunks(count: number): Generator<Buffer> {
  for (let i = 0; i < count; i++) yield Buffer.alloc(MiB, i + 1);
}

function digestOfChunks(count: number): string {
  const hash = createHash('sha256');
  for (const c of chunks(count)) hash.update(c);
  return `sha256:${hash.digest('hex')}`;
}

function streamOf(count: number): ReadableStream<Uint8Array> {
  const it = chunks(count);
  return new ReadableStream({
    pull(controller) {
      const next = it.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
  });
}

interface V2Error {
  status: number;
  code: string | undefined;
  message: string | undefined;
}

async function errorOf(res: Response): Promise<V2Error> {
  const body = (await res.json()) as { errors?: { code: string; message: string }[] };
  return { status: res.status, code: body.errors?.[0]?.code, message: body.errors?.[0]?.message };
}

const STORAGE_FULL = { status: 413, code: 'DENIED', message: expect.stringMatching(/^storage is full: /) };

rootDescribe('a full disk (40 MiB tmpfs as the data directory)', () => {
  let tmpfs: Awaited<ReturnType<typeof mountTmpfs>>;
  let mountPoint: string;
  let wharf: WharfProcess;
  let filler: string;
  const repo = 'full/app';

  const start = async () => {
    wharf = await startWharf({ dataDir: mountPoint });
  };
  const v2 = (path: string, init?: RequestInit) => fetch(`${wharf.url}/v2/${path}`, init);
  const uploadsLeft = async () => readdir(join(mountPoint, 'uploads')).catch(() => []);
  const health = async () => (await fetch(`${wharf.url}/healthz`)).json() as Promise<Record<string, unknown>>;
  const metric = async (name: string) => {
    const text = await (await fetch(`${wharf.url}/metrics`)).text();
    const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };

  const pushBlob = async (data: string | Buffer) => {
    const res = await v2(`${repo}/blobs/uploads/?digest=${digestOf(data)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: data,
    });
    return res;
  };
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
  const layer = 'a small layer';
  /** An image manifest over config and layer, padded to `padBytes` by an annotation. */
  const manifestOf = (padBytes: number, note: string) =>
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length }],
      annotations: { note, padding: 'x'.repeat(padBytes) },
    });
  const putManifest = (tag: string, body: string) =>
    v2(`${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': MediaType.ociManifest }, body });

  beforeAll(async () => {
    tmpfs = await mountTmpfs(40);
    mountPoint = tmpfs.dir;
    filler = join(mountPoint, 'filler');
    await start();
  }, TIMEOUT);

  afterAll(async () => {
    await wharf?.stop();
    await tmpfs?.unmount();
  }, TIMEOUT);

  it(
    'a monolithic upload larger than the free space: 413 DENIED "storage is full", its bytes released at once',
    async () => {
      expect((await pushBlob(config)).status).toBe(201);
      expect((await pushBlob(layer)).status).toBe(201);
      expect((await putManifest('v1', manifestOf(0, 'v1'))).status).toBe(201);

      const res = await v2(`${repo}/blobs/uploads/?digest=${digestOfChunks(60)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: streamOf(60),
        duplex: 'half',
      } as RequestInit);
      expect(await errorOf(res)).toEqual(STORAGE_FULL);
      // Released at once: no session directory, the space is free again.
      expect(await uploadsLeft()).toEqual([]);
      expect(await metric('wharf_storage_free_bytes')).toBeGreaterThan(35 * MiB);
      expect((await v2(`${repo}/blobs/${digestOfChunks(60)}`, { method: 'HEAD' })).status).toBe(404);
      expect(wharf.log()).toContain('storage is full');
      expect(wharf.log()).not.toContain('cannot rollback');
    },
    TIMEOUT,
  );

  it(
    'a chunked upload (PATCH) that runs out of space: the same answer, and the session is gone',
    async () => {
      const started = await v2(`${repo}/blobs/uploads/`, { method: 'POST' });
      expect(started.status).toBe(202);
      const location = new URL(started.headers.get('location') as string, wharf.url).toString();
      const patch = await fetch(location, {
        method: 'PATCH',
        headers: { 'content-type': 'application/octet-stream' },
        body: streamOf(60),
        duplex: 'half',
      } as RequestInit);
      expect(await errorOf(patch)).toEqual(STORAGE_FULL);
      expect(await uploadsLeft()).toEqual([]);
      expect((await fetch(location)).status).toBe(404);
      expect(await metric('wharf_storage_free_bytes')).toBeGreaterThan(35 * MiB);
    },
    TIMEOUT,
  );

  it(
    'on a full disk: healthz and metrics report low space; a manifest PUT is refused and changes nothing',
    async () => {
      expect(await health()).toMatchObject({ status: 'ok', storage: 'ok' });
      expect(await metric('wharf_storage_low')).toBe(0);
      fillDisk(filler);
      expect(await health()).toMatchObject({ status: 'ok', storage: 'low' });
      expect(await metric('wharf_storage_low')).toBe(1);
      expect(await metric('wharf_storage_free_bytes')).toBeLessThan(MiB);

      // 2 MiB: more than SQLite's write-ahead log can take without growing.
      const res = await putManifest('v2', manifestOf(2 * MiB, 'v2'));
      expect(await errorOf(res)).toEqual(STORAGE_FULL);
      expect((await v2(`${repo}/manifests/v2`)).status).toBe(404);
      expect(((await (await v2(`${repo}/tags/list`)).json()) as { tags: string[] }).tags).toEqual(['v1']);
      // A blob upload is refused as well, and leaves nothing.
      expect(await errorOf(await pushBlob(Buffer.alloc(MiB, 9)))).toEqual(STORAGE_FULL);
      expect(await uploadsLeft()).toEqual([]);
      // Reads still work.
      expect((await v2(`${repo}/manifests/v1`)).status).toBe(200);
      expect(wharf.log()).not.toContain('cannot rollback');
    },
    TIMEOUT,
  );

  it(
    'a restart on the full disk starts, serves reads and reports low space',
    async () => {
      await wharf.stop();
      await start();
      expect(await health()).toMatchObject({ status: 'ok', storage: 'low' });
      const manifest = await v2(`${repo}/manifests/v1`, { headers: { accept: MediaType.ociManifest } });
      expect(manifest.status).toBe(200);
      const blob = await v2(`${repo}/blobs/${digestOf(layer)}`);
      expect(await blob.text()).toBe(layer);
    },
    TIMEOUT,
  );

  it(
    'once space returns, uploads and manifest PUTs work again by themselves',
    async () => {
      await rm(filler);
      expect(await health()).toMatchObject({ status: 'ok', storage: 'ok' });
      expect(await metric('wharf_storage_low')).toBe(0);
      const big = Buffer.alloc(8 * MiB, 3);
      expect((await pushBlob(big)).status).toBe(201);
      expect((await putManifest('v2', manifestOf(2 * MiB, 'v2'))).status).toBe(201);
      expect(((await (await v2(`${repo}/tags/list`)).json()) as { tags: string[] }).tags.sort()).toEqual(['v1', 'v2']);
      expect(await uploadsLeft()).toEqual([]);
    },
    TIMEOUT,
  );
});

// Without root: SQLite's own size limit (max_page_count) gives the same SQLITE_FULL, which SQLite
// answers by rolling the transaction back itself.
describe('a full metadata database (SQLite max_page_count), in process', () => {
  it('a manifest PUT gets 413 DENIED "storage is full" (not "cannot rollback"), changes nothing, works once there is room', async () => {
    const server = await memoryServer();
    try {
      const { app, ctx } = server;
      const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
      await pushBlob(app, 'db/full', config);
      const manifest = (tag: string) =>
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.ociManifest,
          config: {
            mediaType: 'application/vnd.oci.image.config.v1+json',
            digest: digestOf(config),
            size: config.length,
          },
          layers: [],
          annotations: { tag, padding: 'x'.repeat(MiB) },
        });
      const put = (tag: string) =>
        app.inject({
          method: 'PUT',
          url: `/v2/db/full/manifests/${tag}`,
          headers: { 'content-type': MediaType.ociManifest },
          payload: manifest(tag),
        });
      const pages = Number((await sql<{ page_count: number }>`pragma page_count`.execute(ctx.db)).rows[0]?.page_count);
      await sql.raw(`pragma max_page_count = ${pages + 10}`).execute(ctx.db);

      const refused = await put('v1');
      expect(refused.statusCode).toBe(413);
      expect(refused.json()).toEqual({
        errors: [{ code: 'DENIED', message: expect.stringMatching(/^storage is full: /) }],
      });
      expect((await app.inject({ url: '/v2/db/full/manifests/v1' })).statusCode).toBe(404);

      await sql.raw('pragma max_page_count = 1073741823').execute(ctx.db);
      expect((await put('v1')).statusCode).toBe(201);
      expect((await app.inject({ url: '/v2/db/full/tags/list' })).json()).toEqual({ name: 'db/full', tags: ['v1'] });
    } finally {
      await server.close();
    }
  });
});
