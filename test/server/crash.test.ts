// "Atomic commits … A `kill -9` at any moment leaves a consistent store that the next start
// uses as is" (DESIGN.md, Rules of the road), checked on a real `wharf serve` process: it is
// SIGKILLed in the middle of a chunked upload, of a monolithic upload and of a storm of
// manifest PUTs, restarted on the same data directory, and the store is then inspected:
// no partial blob under any digest, the upload resumable or cleanly unknown, tags, manifests,
// blobs and catalog consistent, and the SQLite file intact.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { type Dispatcher, Pool } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { blobDigest, blobPieces } from '../support/generated-blob.js';
import { seededRandom } from '../support/seeded.js';
import { startWharf, type WharfProcess } from '../support/server.js';
import { waitFor } from '../support/tools.js';

const MiB = 1024 * 1024;

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const ACCEPT_ALL = [
  OCI_MANIFEST,
  OCI_INDEX,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

// ---------------------------------------------------------------------------------------
// Deterministic data: any byte range of a blob can be regenerated to resume an upload.

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

// ---------------------------------------------------------------------------------------
// HTTP

interface Reply {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  body: Buffer;
}

function header(reply: Reply, name: string): string | undefined {
  const v = reply.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function http(
  pool: Pool,
  method: Dispatcher.HttpMethod,
  path: string,
  opts: { headers?: Record<string, string>; body?: Buffer | Readable | string } = {},
): Promise<Reply> {
  const res = await pool.request({ method, path, headers: opts.headers ?? {}, body: opts.body ?? null });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

function expectReply(reply: Reply, status: number, context: string): void {
  if (reply.status !== status) {
    throw new Error(`${context}: expected HTTP ${status}, got ${reply.status}: ${reply.body.toString().slice(0, 500)}`);
  }
}

function errorCode(reply: Reply): string | undefined {
  try {
    const parsed = JSON.parse(reply.body.toString()) as { errors?: { code?: string }[] };
    return parsed.errors?.[0]?.code;
  } catch {
    return undefined;
  }
}

/** An error from a connection the server dropped or refused (it was killed), not an HTTP answer. */
function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^(UND_ERR_|ECONNREFUSED|ECONNRESET|EPIPE)/.test(code);
}

function locationPath(reply: Reply, origin: string): string {
  const loc = header(reply, 'location');
  if (loc === undefined) throw new Error('response has no Location header');
  const url = new URL(loc, origin);
  return `${url.pathname}${url.search}`;
}

function withQuery(path: string, key: string, value: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}${key}=${encodeURIComponent(value)}`;
}

async function pushBlob(pool: Pool, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const reply = await http(pool, 'POST', withQuery(`/v2/${repo}/blobs/uploads/`, 'digest', digest), {
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
    body: data,
  });
  expectReply(reply, 201, `push blob ${digest}`);
  return digest;
}

// ---------------------------------------------------------------------------------------
// Inspecting the data directory

async function filesUnder(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function hashFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Every file under <data>/blobs must be a verified blob: blobs/sha256/<hh>/<hex>/data whose
 * content hashes to <hex>. Anything else (a partial file, a temp file) fails. Returns the digests.
 */
async function verifiedBlobsOnDisk(dataDir: string): Promise<Set<string>> {
  const root = join(dataDir, 'blobs');
  const digests = new Set<string>();
  for (const file of await filesUnder(root)) {
    const rel = file.slice(root.length + 1);
    const m = /^sha256\/([0-9a-f]{2})\/([0-9a-f]{64})\/data$/.exec(rel);
    expect(m, `unexpected file under blobs/: ${rel}`).not.toBeNull();
    if (!m) continue;
    expect(m[2]?.startsWith(m[1] ?? '-'), `blob ${rel} is in the wrong fan-out directory`).toBe(true);
    expect(await hashFile(file), `blobs/${rel} does not hash to its path: a partial or corrupt blob`).toBe(m[2]);
    digests.add(`sha256:${m[2]}`);
  }
  return digests;
}

/** PRAGMA integrity_check (and foreign_key_check) on the metadata database, server not running. */
function checkDatabase(dataDir: string): void {
  const db = new Database(join(dataDir, 'wharf.db'));
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.pragma('foreign_key_check')).toEqual([]);
  } finally {
    db.close();
  }
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return -1;
  }
}

// ---------------------------------------------------------------------------------------
// A server on a data directory that outlives it

class Life {
  server?: WharfProcess;
  pool?: Pool;

  private constructor(readonly dataDir: string) {}

  static async create(prefix: string): Promise<Life> {
    return new Life(await mkdtemp(join(tmpdir(), prefix)));
  }

  async start(): Promise<{ server: WharfProcess; pool: Pool }> {
    const server = await startWharf({ dataDir: this.dataDir });
    const pool = new Pool(server.url, { headersTimeout: 30_000, bodyTimeout: 30_000 });
    this.server = server;
    this.pool = pool;
    return { server, pool };
  }

  /** SIGKILL (if not already dead) and forget the connections. */
  async crash(): Promise<void> {
    await this.server?.kill();
    await this.pool?.destroy();
    this.server = undefined;
    this.pool = undefined;
  }

  async stop(): Promise<void> {
    await this.pool?.close();
    await this.server?.stop();
    this.server = undefined;
    this.pool = undefined;
  }

  async dispose(): Promise<void> {
    await this.crash();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

const lives: Life[] = [];
async function newLife(prefix: string): Promise<Life> {
  const life = await Life.create(prefix);
  lives.push(life);
  return life;
}

afterEach(async () => {
  for (const life of lives.splice(0)) await life.dispose();
});

// ---------------------------------------------------------------------------------------

describe('kill -9 during an upload', () => {
  it('keeps a chunked upload killed mid-PATCH resumable (or cleanly unknown), never visible under its digest', {
    timeout: 60_000,
  }, async () => {
    const life = await newLife('wharf-crash-chunked-');
    const repo = 'crash/chunked';
    const seed = 11;
    const total = 24 * MiB;
    const first = 8 * MiB;
    const sentOfSecond = 3 * MiB;
    const digest = blobDigest(seed, total);
    let { server, pool } = await life.start();

    const started = await http(pool, 'POST', `/v2/${repo}/blobs/uploads/`);
    expectReply(started, 202, 'upload start');
    const uuid = header(started, 'docker-upload-uuid');
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    let location = locationPath(started, server.url);

    const patch1 = await http(pool, 'PATCH', location, {
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `0-${first - 1}`,
        'content-length': String(first),
      },
      body: Readable.from(blobPieces(seed, 0, first)),
    });
    expectReply(patch1, 202, 'first PATCH');
    expect(header(patch1, 'range')).toBe(`0-${first - 1}`);
    location = locationPath(patch1, server.url);

    // Second PATCH announces 16 MiB, sends 3 MiB, then stalls: the kill lands mid-body.
    const body = new PassThrough();
    const pending = pool
      .request({
        method: 'PATCH',
        path: location,
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${first}-${total - 1}`,
          'content-length': String(total - first),
        },
        body,
      })
      .then(
        async (res) => ({ status: res.statusCode, text: await res.body.text() }),
        (err: unknown) => ({ status: 0, text: String(err) }),
      );
    for (const p of blobPieces(seed, first, first + sentOfSecond)) body.write(p);
    const partFile = join(life.dataDir, 'uploads', uuid ?? '-', 'data');
    await waitFor('part of the second PATCH to reach the disk', async () => (await sizeOf(partFile)) > first);
    await life.crash();
    body.destroy();
    const outcome = await pending;
    expect(outcome.status, `the interrupted PATCH cannot have succeeded: ${outcome.text}`).not.toBe(202);

    expect([...(await verifiedBlobsOnDisk(life.dataDir))]).not.toContain(digest);
    checkDatabase(life.dataDir);

    ({ server, pool } = await life.start());
    const head = await http(pool, 'HEAD', `/v2/${repo}/blobs/${digest}`);
    expect(head.status, 'the blob must not be readable before the closing PUT').toBe(404);

    const status = await http(pool, 'GET', location);
    if (status.status === 404) {
      // Cleanly forgotten: the session is unknown and the blob can be pushed again from scratch.
      expect(errorCode(status)).toBe('BLOB_UPLOAD_UNKNOWN');
      console.log('[crash] chunked upload killed mid-PATCH: session forgotten (404 BLOB_UPLOAD_UNKNOWN)');
      const again = await http(pool, 'POST', withQuery(`/v2/${repo}/blobs/uploads/`, 'digest', digest), {
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(total) },
        body: Readable.from(blobPieces(seed, 0, total)),
      });
      expectReply(again, 201, 'fresh upload after the session was forgotten');
    } else {
      // Resumable: the Range says how much was kept; at least the acknowledged first chunk,
      // at most what was sent.
      expectReply(status, 204, 'upload status after restart');
      const m = /^0-(\d+)$/.exec(header(status, 'range') ?? '');
      expect(m, `Range header: ${header(status, 'range')}`).not.toBeNull();
      const kept = Number(m?.[1]) + 1;
      console.log(`[crash] chunked upload killed mid-PATCH: session kept ${kept} bytes (first PATCH ${first})`);
      expect(kept).toBeGreaterThanOrEqual(first);
      expect(kept).toBeLessThanOrEqual(first + sentOfSecond);
      location = locationPath(status, server.url);

      const resume = await http(pool, 'PATCH', location, {
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${kept}-${total - 1}`,
          'content-length': String(total - kept),
        },
        body: Readable.from(blobPieces(seed, kept, total)),
      });
      expectReply(resume, 202, `resuming PATCH from ${kept}`);
      expect(header(resume, 'range')).toBe(`0-${total - 1}`);
      location = locationPath(resume, server.url);

      const stillHidden = await http(pool, 'HEAD', `/v2/${repo}/blobs/${digest}`);
      expect(stillHidden.status, 'the blob must not be readable before the closing PUT').toBe(404);

      const put = await http(pool, 'PUT', withQuery(location, 'digest', digest), {
        headers: { 'content-length': '0' },
      });
      expectReply(put, 201, 'closing PUT');
      expect(header(put, 'docker-content-digest')).toBe(digest);
    }

    const got = await http(pool, 'GET', `/v2/${repo}/blobs/${digest}`);
    expectReply(got, 200, 'blob GET');
    expect(got.body.length).toBe(total);
    expect(sha256(got.body)).toBe(digest);
    expect([...(await verifiedBlobsOnDisk(life.dataDir))]).toEqual([digest]);
    const catalog = await http(pool, 'GET', '/v2/_catalog');
    expect((JSON.parse(catalog.body.toString()) as { repositories: string[] }).repositories).toContain(repo);
    await life.stop();
    checkDatabase(life.dataDir);
  });

  it('leaves no blob behind a monolithic upload killed mid-body', { timeout: 60_000 }, async () => {
    const life = await newLife('wharf-crash-monolithic-');
    const repo = 'crash/monolithic';
    const seed = 22;
    const total = 16 * MiB;
    const digest = blobDigest(seed, total);
    let { pool } = await life.start();

    const body = new PassThrough();
    const pending = pool
      .request({
        method: 'POST',
        path: withQuery(`/v2/${repo}/blobs/uploads/`, 'digest', digest),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(total) },
        body,
      })
      .then(
        async (res) => ({ status: res.statusCode, text: await res.body.text() }),
        (err: unknown) => ({ status: 0, text: String(err) }),
      );
    for (const p of blobPieces(seed, 0, 4 * MiB)) body.write(p);
    const uploads = join(life.dataDir, 'uploads');
    await waitFor('part of the body to reach the disk', async () => {
      for (const f of await filesUnder(uploads)) if ((await sizeOf(f)) > 0) return true;
      return false;
    });
    await life.crash();
    body.destroy();
    const outcome = await pending;
    expect(outcome.status, `the interrupted upload cannot have succeeded: ${outcome.text}`).not.toBe(201);

    const hex = digest.slice('sha256:'.length);
    expect(await filesUnder(join(life.dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex))).toEqual([]);
    expect([...(await verifiedBlobsOnDisk(life.dataDir))]).toEqual([]);
    checkDatabase(life.dataDir);

    ({ pool } = await life.start());
    const head = await http(pool, 'HEAD', `/v2/${repo}/blobs/${digest}`);
    expect(head.status).toBe(404);
    const get = await http(pool, 'GET', `/v2/${repo}/blobs/${digest}`);
    expect(get.status).toBe(404);
    expect(errorCode(get)).toBe('BLOB_UNKNOWN');

    // The leftovers do not get in the way of pushing the same blob again.
    const again = await http(pool, 'POST', withQuery(`/v2/${repo}/blobs/uploads/`, 'digest', digest), {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(total) },
      body: Readable.from(blobPieces(seed, 0, total)),
    });
    expectReply(again, 201, 'upload after restart');
    const got = await http(pool, 'GET', `/v2/${repo}/blobs/${digest}`);
    expectReply(got, 200, 'blob GET');
    expect(sha256(got.body)).toBe(digest);
    expect([...(await verifiedBlobsOnDisk(life.dataDir))]).toEqual([digest]);
    await life.stop();
    checkDatabase(life.dataDir);
  });
});

// ---------------------------------------------------------------------------------------

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

interface ManifestDoc {
  mediaType: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

function imageManifest(config: Descriptor, layers: Descriptor[], annotations: Record<string, string>): Buffer {
  return Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers, annotations }, null, 2),
  );
}

function imageIndex(children: Descriptor[], annotations: Record<string, string>): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: children.map((c) => ({ ...c, platform: { architecture: 'amd64', os: 'linux' } })),
      annotations,
    }),
  );
}

/** What the registry must show after a restart, from what it acknowledged before the kill. */
interface Expectations {
  repo: string;
  /** Tags whose PUT was answered 201 → the digest they must still point at. */
  acked: Map<string, string>;
  /** Tags that several PUTs raced for → every digest that may legitimately win. */
  contended: Map<string, Set<string>>;
}

/** Walks the registry through its API and checks that tags, manifests, blobs and catalog agree. */
async function checkConsistency(pool: Pool, dataDir: string, want: Expectations): Promise<number> {
  const { repo } = want;
  const catalog = await http(pool, 'GET', '/v2/_catalog');
  expectReply(catalog, 200, 'catalog');
  expect((JSON.parse(catalog.body.toString()) as { repositories: string[] }).repositories).toContain(repo);

  const tags: string[] = [];
  let next: string | undefined = `/v2/${repo}/tags/list`;
  while (next !== undefined) {
    const page = await http(pool, 'GET', next);
    expectReply(page, 200, 'tags/list');
    tags.push(...(JSON.parse(page.body.toString()) as { tags: string[] }).tags);
    const link = header(page, 'link');
    const m = link ? /<([^>]+)>;\s*rel="next"/.exec(link) : null;
    next = m?.[1];
  }
  expect(new Set(tags).size, 'tags/list repeats a tag').toBe(tags.length);
  for (const tag of want.acked.keys()) expect(tags, `acknowledged tag ${tag} is gone`).toContain(tag);

  const checkedBlobs = new Set<string>();
  const checkedManifests = new Set<string>();
  const checkBlob = async (d: Descriptor) => {
    if (checkedBlobs.has(d.digest)) return;
    const head = await http(pool, 'HEAD', `/v2/${repo}/blobs/${d.digest}`);
    expect(head.status, `blob ${d.digest} referenced by a manifest`).toBe(200);
    expect(header(head, 'content-length')).toBe(String(d.size));
    const got = await http(pool, 'GET', `/v2/${repo}/blobs/${d.digest}`);
    expectReply(got, 200, `GET blob ${d.digest}`);
    expect(sha256(got.body)).toBe(d.digest);
    checkedBlobs.add(d.digest);
  };
  const checkManifest = async (digest: string): Promise<void> => {
    if (checkedManifests.has(digest)) return;
    const got = await http(pool, 'GET', `/v2/${repo}/manifests/${digest}`, { headers: { accept: ACCEPT_ALL } });
    expectReply(got, 200, `GET manifest ${digest}`);
    expect(sha256(got.body)).toBe(digest);
    const doc = JSON.parse(got.body.toString()) as ManifestDoc;
    expect(header(got, 'content-type')).toBe(doc.mediaType);
    for (const d of [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])]) await checkBlob(d);
    for (const child of doc.manifests ?? []) await checkManifest(child.digest);
    checkedManifests.add(digest);
  };

  for (const tag of tags) {
    const got = await http(pool, 'GET', `/v2/${repo}/manifests/${tag}`, { headers: { accept: ACCEPT_ALL } });
    expectReply(got, 200, `tag ${tag} is listed but GET manifests/${tag}`);
    const digest = sha256(got.body);
    expect(header(got, 'docker-content-digest'), `tag ${tag}`).toBe(digest);
    const acked = want.acked.get(tag);
    if (acked !== undefined && !want.contended.has(tag)) expect(digest, `tag ${tag} moved`).toBe(acked);
    const candidates = want.contended.get(tag);
    if (candidates) expect(candidates.has(digest), `tag ${tag} points at a digest nobody pushed to it`).toBe(true);
    await checkManifest(digest);
  }

  const onDisk = await verifiedBlobsOnDisk(dataDir);
  for (const d of checkedBlobs) expect(onDisk.has(d), `blob ${d} is linked but not on disk`).toBe(true);
  return tags.length;
}

describe('kill -9 during manifest PUTs', () => {
  it('keeps tags, manifests, blobs and catalog consistent over three kill/restart rounds', {
    timeout: 120_000,
  }, async () => {
    const seed = Number(process.env.WHARF_CRASH_SEED ?? Date.now() % 1_000_000);
    const random = seededRandom(seed);
    const life = await newLife('wharf-crash-manifests-');
    const repo = 'crash/app';
    let { server, pool } = await life.start();

    const configData = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    );
    const baseLayerData = randomBytes(200 * 1024);
    const config: Descriptor = {
      mediaType: OCI_CONFIG,
      digest: await pushBlob(pool, repo, configData),
      size: configData.length,
    };
    const baseLayer: Descriptor = {
      mediaType: OCI_LAYER,
      digest: await pushBlob(pool, repo, baseLayerData),
      size: baseLayerData.length,
    };
    const v1 = imageManifest(config, [baseLayer], { 'org.example.round': '0' });
    const putV1 = await http(pool, 'PUT', `/v2/${repo}/manifests/v1`, {
      headers: { 'content-type': OCI_MANIFEST },
      body: v1,
    });
    expectReply(putV1, 201, 'PUT v1');
    const want: Expectations = { repo, acked: new Map([['v1', sha256(v1)]]), contended: new Map() };
    const latest = new Set<string>();
    want.contended.set('latest', latest);

    const rounds: string[] = [];
    for (let round = 1; round <= 3; round++) {
      const roundData = randomBytes(64 * 1024 + round);
      const roundLayer: Descriptor = {
        mediaType: OCI_LAYER,
        digest: await pushBlob(pool, repo, roundData),
        size: roundData.length,
      };

      // The storm: 50 tasks at once, each a few requests. The server dies when the k-th response arrives.
      let responses = 0;
      const killAt = 1 + Math.floor(random() * 60);
      const current = server;
      const client = pool;
      const count = <T>(p: Promise<T>): Promise<T> =>
        p.finally(() => {
          responses++;
          if (responses === killAt) current.child.kill('SIGKILL');
        });
      const put = async (ref: string, body: Buffer, mediaType: string) => {
        const reply = await count(
          http(client, 'PUT', `/v2/${repo}/manifests/${ref}`, { headers: { 'content-type': mediaType }, body }),
        );
        expectReply(reply, 201, `PUT manifests/${ref}`);
        expect(header(reply, 'docker-content-digest')).toBe(sha256(body));
      };
      const task = async (i: number) => {
        const layers = [baseLayer, roundLayer];
        if (i % 5 === 0) {
          const data = randomBytes(16 * 1024 + i);
          const digest = sha256(data);
          const reply = await count(
            http(client, 'POST', withQuery(`/v2/${repo}/blobs/uploads/`, 'digest', digest), {
              headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
              body: data,
            }),
          );
          expectReply(reply, 201, 'blob push');
          layers.push({ mediaType: OCI_LAYER, digest, size: data.length });
        }
        const manifest = imageManifest(config, layers, {
          'org.example.round': String(round),
          'org.example.i': String(i),
        });
        const digest = sha256(manifest);
        const tag = `r${round}-${i}`;
        if (i % 10 === 7) {
          // By digest first, then an index that needs it.
          await put(digest, manifest, OCI_MANIFEST);
          const index = imageIndex([{ mediaType: OCI_MANIFEST, digest, size: manifest.length }], { i: String(i) });
          await put(tag, index, OCI_INDEX);
          want.acked.set(tag, sha256(index));
          return;
        }
        if (i % 10 === 3) {
          latest.add(digest);
          await put('latest', manifest, OCI_MANIFEST);
          want.acked.set('latest', digest);
        }
        await put(tag, manifest, OCI_MANIFEST);
        want.acked.set(tag, digest);
      };
      const settled = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => task(i)));
      await life.crash();
      const ok = settled.filter((s) => s.status === 'fulfilled').length;
      // Requests cut off by the kill fail with a connection error; anything else (an error
      // status, a wrong digest header) is a server bug.
      const refused = settled.flatMap((s) =>
        s.status === 'rejected' && !isConnectionError(s.reason) ? [String(s.reason)] : [],
      );
      expect(refused, `requests answered with an error before the kill (seed ${seed})`).toEqual([]);
      rounds.push(`round ${round}: killed after ${killAt} responses, ${ok}/50 tasks completed`);

      checkDatabase(life.dataDir);
      ({ server, pool } = await life.start());
      const tagCount = await checkConsistency(pool, life.dataDir, want);
      rounds[rounds.length - 1] += `, ${tagCount} tags consistent after restart`;
    }
    console.log(`[crash] seed ${seed}\n[crash] ${rounds.join('\n[crash] ')}`);
    await life.stop();
    checkDatabase(life.dataDir);
  });
});
