// Online garbage collection (issue 11) on an in-process server (memory driver, fastify.inject):
// what the review queues hold after each kind of change, what a run deletes once the delay has
// passed and what it must keep (a blob waiting for its manifest, a manifest only an index or a
// referrer's subject link needs, a blob re-referenced while queued), dry runs, the upload/GC
// crossing, the admin API and the metrics.
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqlite } from '../../src/metadata/db.js';
import { claimUploadDigest } from '../../src/metadata/gc.js';
import { MissingReferencesError, putManifest } from '../../src/metadata/manifests.js';
import { registryMigrations } from '../../src/metadata/migrations.js';
import { findRepositoryId } from '../../src/metadata/repositories.js';
import type { Database } from '../../src/metadata/schema.js';
import { openMigratedSqlite } from '../../src/metadata/sqlite.js';
import { createUpload, deleteUpload } from '../../src/metadata/uploads.js';
import { digestOf, parseDigest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { removeBlobFile } from '../../src/registry/blob-files.js';
import { runGc } from '../../src/registry/gc.js';
import type { WharfServer } from '../../src/server/app.js';
import { paths } from '../../src/storage/paths.js';
import { pushBlob, pushImage } from '../support/push.js';
import { hubServer, memoryServer } from '../support/server.js';
import { removeTmpDir, sleep, tmpDir } from '../support/tools.js';

const DELAY_MS = 400;
const wait = () => sleep(DELAY_MS + 100);

let server: WharfServer;
afterEach(async () => {
  await server?.close();
});

async function start(env: NodeJS.ProcessEnv = {}): Promise<FastifyInstance> {
  server = await memoryServer({ WHARF_GC_REVIEW_DELAY: `${DELAY_MS}ms`, WHARF_GC_INTERVAL: '1h', ...env });
  return server.app;
}

const gc = (dryRun = false) =>
  runGc(server.ctx, { deleteUntagged: true, reviewDelay: DELAY_MS, dryRun, trigger: 'test' });

async function status(app: FastifyInstance, method: 'HEAD' | 'GET', url: string): Promise<number> {
  return (await app.inject({ method, url })).statusCode;
}

async function fileExists(digest: string): Promise<boolean> {
  const d = parseDigest(digest);
  if (!d) throw new Error(`bad digest ${digest}`);
  return server.ctx.storage.stat(paths.blob(d)).then(
    () => true,
    () => false,
  );
}

/** PUTs a manifest by digest (no tag) or under a tag; returns its digest. */
async function putRaw(app: FastifyInstance, repo: string, body: object, mediaType: string, tag?: string) {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, ...body }));
  const digest = digestOf(bytes);
  const res = await app.inject({
    method: 'PUT',
    url: `/v2/${repo}/manifests/${tag ?? digest}`,
    headers: { 'content-type': mediaType },
    payload: bytes,
  });
  if (res.statusCode !== 201) throw new Error(`PUT failed: ${res.statusCode} ${res.body}`);
  return { digest, size: bytes.byteLength, mediaType };
}

describe('online garbage collection', () => {
  it('keeps an uploaded blob that no manifest references until the delay has passed, then removes row and file', async () => {
    const app = await start();
    const blob = await pushBlob(app, 'gc/blob', 'a lonely layer');
    const early = await gc();
    expect(early.blobsDeleted).toBe(0);
    expect(await status(app, 'HEAD', `/v2/gc/blob/blobs/${blob}`)).toBe(200);
    expect(await fileExists(blob)).toBe(true);

    await wait();
    const dry = await gc(true);
    expect(dry.deleted).toEqual([{ kind: 'blob', digest: blob, size: 14 }]);
    expect(await status(app, 'HEAD', `/v2/gc/blob/blobs/${blob}`)).toBe(200);
    expect(await fileExists(blob)).toBe(true);

    const run = await gc();
    expect(run).toMatchObject({ blobsDeleted: 1, bytesFreed: 14, dryRun: false });
    expect(await status(app, 'HEAD', `/v2/gc/blob/blobs/${blob}`)).toBe(404);
    expect(await fileExists(blob)).toBe(false);
  });

  it('a deleted tag frees the manifest, then its unique blobs; blobs shared with another repository stay', async () => {
    const app = await start();
    const a = await pushImage(app, 'gc/a', 'v1', { layers: ['shared base', 'only in a'] });
    const b = await pushImage(app, 'gc/b', 'v2', { layers: ['shared base', 'only in b'] });
    const [shared, onlyA] = a.layers as [string, string];
    expect(b.layers[0]).toBe(shared);
    await wait();
    expect((await gc()).deleted).toEqual([]); // everything is tagged

    expect((await app.inject({ method: 'DELETE', url: '/v2/gc/a/manifests/v1' })).statusCode).toBe(202);
    // Deleting the tag queued the manifest; the blobs wait for the manifest's review.
    await wait();
    const first = await gc();
    expect(first.deleted).toEqual([{ kind: 'manifest', digest: a.digest, repository: 'gc/a', size: a.body.length }]);
    expect(await status(app, 'GET', `/v2/gc/a/manifests/${a.digest}`)).toBe(404);
    await wait();
    const second = await gc();
    expect(second.deleted.map((d) => d.digest).sort()).toEqual([a.config, onlyA].sort());
    expect(await fileExists(onlyA)).toBe(false);
    expect(await fileExists(a.config)).toBe(false);
    // The shared layer stays: gc/b still references it; gc/a's unused link to it is dropped.
    expect(await fileExists(shared)).toBe(true);
    expect(await status(app, 'GET', `/v2/gc/b/blobs/${shared}`)).toBe(200);
    expect(await status(app, 'HEAD', `/v2/gc/a/blobs/${shared}`)).toBe(404);
    expect(await status(app, 'GET', '/v2/gc/b/manifests/v2')).toBe(200);
  });

  it('keeps a manifest referenced only by a tagged index, and deletes an untagged one nothing references', async () => {
    const app = await start();
    const child = await pushImage(app, 'gc/multi', 'tmp', { layers: ['arm64 layer'] });
    const orphan = await pushImage(app, 'gc/multi', 'tmp2', { layers: ['orphan layer'] });
    // Untag both (by deleting the tags), then list only `child` in a tagged index.
    await app.inject({ method: 'DELETE', url: '/v2/gc/multi/manifests/tmp' });
    await app.inject({ method: 'DELETE', url: '/v2/gc/multi/manifests/tmp2' });
    await putRaw(
      app,
      'gc/multi',
      { manifests: [{ mediaType: MediaType.ociManifest, digest: child.digest, size: child.body.length }] },
      MediaType.ociIndex,
      'latest',
    );
    await wait();
    const run = await gc();
    expect(run.deleted).toEqual([
      { kind: 'manifest', digest: orphan.digest, repository: 'gc/multi', size: orphan.body.length },
    ]);
    expect(await status(app, 'GET', `/v2/gc/multi/manifests/${child.digest}`)).toBe(200);
  });

  it("keeps an untagged manifest that a tagged referrer names as its subject; the pair goes once the referrer's tag does", async () => {
    const app = await start();
    const subject = await pushImage(app, 'gc/signed', 'tmp', { layers: ['signed layer'] });
    await app.inject({ method: 'DELETE', url: '/v2/gc/signed/manifests/tmp' });
    const referrer = await pushImage(app, 'gc/signed', 'sig', {
      layers: ['signature'],
      artifactType: 'application/vnd.example.signature',
      subject: { mediaType: MediaType.ociManifest, digest: subject.digest, size: subject.body.length },
    });
    await wait();
    expect((await gc()).deleted).toEqual([]);
    expect(await status(app, 'GET', `/v2/gc/signed/manifests/${subject.digest}`)).toBe(200);

    await app.inject({ method: 'DELETE', url: '/v2/gc/signed/manifests/sig' });
    await wait();
    expect((await gc()).deleted.map((d) => d.digest)).toEqual([referrer.digest]);
    await wait();
    // The referrer's deletion queued its subject: nothing reaches it now.
    expect((await gc()).deleted.filter((d) => d.kind === 'manifest').map((d) => d.digest)).toEqual([subject.digest]);
  });

  it('with gc.delete_untagged false, untagged manifests stay; explicitly deleted ones still free their blobs', async () => {
    const app = await start();
    const img = await pushImage(app, 'gc/keep', 'v1', { layers: ['kept layer'] });
    await app.inject({ method: 'DELETE', url: '/v2/gc/keep/manifests/v1' });
    await wait();
    const keep = await runGc(server.ctx, { deleteUntagged: false, reviewDelay: DELAY_MS });
    expect(keep.deleted).toEqual([]);
    expect(await status(app, 'GET', `/v2/gc/keep/manifests/${img.digest}`)).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: `/v2/gc/keep/manifests/${img.digest}` })).statusCode).toBe(202);
    await wait();
    const freed = await runGc(server.ctx, { deleteUntagged: false, reviewDelay: DELAY_MS });
    expect(freed.blobsDeleted).toBe(2);
  });

  it('a blob that gets a reference while queued is not deleted', async () => {
    const app = await start();
    const layer = await pushBlob(app, 'gc/late', 'layer uploaded long before its manifest');
    await wait();
    // The manifest arrives after the delay but before any run.
    await pushImage(app, 'gc/late', 'v1', { layers: ['layer uploaded long before its manifest'] });
    const run = await gc();
    expect(run.deleted.map((d) => d.digest)).not.toContain(layer);
    expect(await fileExists(layer)).toBe(true);
    expect(await status(app, 'GET', '/v2/gc/late/manifests/v1')).toBe(200);
  });

  it('never deletes a blob an upload is finishing under; its review comes back', async () => {
    const app = await start();
    const blob = await pushBlob(app, 'gc/claimed', 'claimed by an upload');
    await wait();
    await createUpload(server.ctx.db, '00000000-0000-4000-8000-000000000001', 'gc/claimed');
    expect(await claimUploadDigest(server.ctx.db, '00000000-0000-4000-8000-000000000001', blob)).toBeUndefined();
    expect((await gc()).deleted).toEqual([]);
    expect(await fileExists(blob)).toBe(true);
    const again = await server.ctx.db
      .selectFrom('gc_blob_review')
      .select('reason')
      .where('digest', '=', blob)
      .execute();
    expect(again).toEqual([{ reason: 'upload_in_progress' }]);
    await deleteUpload(server.ctx.db, '00000000-0000-4000-8000-000000000001');
    await wait();
    expect((await gc()).deleted.map((d) => d.digest)).toEqual([blob]);
  });

  it('a manifest whose blob link went between the check and the commit is refused and stores nothing', async () => {
    await start();
    const repoId = await findRepositoryId(server.ctx.db, 'gc/none').then(async (id) => {
      if (id !== undefined) return id;
      await pushBlob(server.app, 'gc/none', 'x');
      return (await findRepositoryId(server.ctx.db, 'gc/none')) as number;
    });
    const bytes = new TextEncoder().encode('{}');
    const missing = `sha256:${'0'.repeat(64)}`;
    await expect(
      putManifest(
        server.ctx.db,
        repoId,
        {
          digest: digestOf(bytes),
          mediaType: MediaType.ociManifest,
          content: bytes,
          references: [{ digest: missing, kind: 'blob' }],
        },
        ['v1'],
      ),
    ).rejects.toBeInstanceOf(MissingReferencesError);
    const rows = await server.ctx.db.selectFrom('manifests').select('digest').execute();
    expect(rows).toEqual([]);
  });

  it('an upload of a digest whose file GC is removing waits for the removal, then stores its own file', async () => {
    const app = await start();
    const data = 'bytes pushed again while GC removes them';
    const digest = await pushBlob(app, 'gc/race', data);
    await wait();
    // Stop a run between its row deletion and the file removal: the mark stays set.
    await server.ctx.db.deleteFrom('gc_blob_review').execute();
    await server.ctx.db.deleteFrom('repository_blobs').execute();
    await server.ctx.db.deleteFrom('blobs').execute();
    await server.ctx.db
      .insertInto('gc_blob_deletions')
      .values({ digest, started_at: new Date().toISOString() })
      .execute();
    let done = false;
    const again = pushBlob(app, 'gc/race', data).then((d) => {
      done = true;
      return d;
    });
    await sleep(200);
    expect(done).toBe(false); // waiting for the mark
    await removeBlobFile(server.ctx, digest);
    expect(await again).toBe(digest);
    expect(await fileExists(digest)).toBe(true);
    expect(await status(app, 'HEAD', `/v2/gc/race/blobs/${digest}`)).toBe(200);
  });

  it('records runs and reports the queues on /metrics', async () => {
    const app = await start();
    await pushBlob(app, 'gc/metrics', 'counted');
    const before = await app.inject({ method: 'GET', url: '/metrics' });
    expect(before.body).toMatch(/wharf_gc_queue_size\{queue="blob"\} 1/);
    await wait();
    await gc();
    const after = await app.inject({ method: 'GET', url: '/metrics' });
    expect(after.body).toMatch(/wharf_gc_queue_size\{queue="blob"\} 0/);
    expect(after.body).toMatch(/wharf_gc_bytes_freed_total [1-9]/);
    const runs = await server.ctx.db.selectFrom('gc_runs').selectAll().execute();
    expect(runs.at(-1)).toMatchObject({ blobs_deleted: 1, bytes_freed: 7, dry_run: 0, trigger: 'test' });
  });
});

describe('GET/POST /api/admin/gc', () => {
  const PASSWORDS = { admin: 'admin-Secret-0', alice: 'alice-Secret-1' };
  const basic = (user: keyof typeof PASSWORDS) => ({
    authorization: `Basic ${Buffer.from(`${user}:${PASSWORDS[user]}`).toString('base64')}`,
  });
  // API writes must be declared JSON, body or not.
  const basicJson = (user: keyof typeof PASSWORDS) => ({ ...basic(user), 'content-type': 'application/json' });

  it('shows queue health and runs to administrators only, and runs GC (dry or not) on POST', async () => {
    server = await hubServer(PASSWORDS, { env: { WHARF_GC_REVIEW_DELAY: '0s', WHARF_GC_INTERVAL: '1h' } });
    const app = server.app;
    expect((await app.inject({ method: 'GET', url: '/api/admin/gc', headers: basic('alice') })).statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: '/api/admin/gc', headers: basicJson('alice') })).statusCode).toBe(
      404,
    );
    expect((await app.inject({ method: 'GET', url: '/api/admin/gc' })).statusCode).toBe(401);

    // A blob queued for review (as an upload that never got its manifest would be).
    await server.ctx.db
      .insertInto('gc_blob_review')
      .values({
        digest: `sha256:${'1'.repeat(64)}`,
        review_after: '2000-01-01T00:00:00.000Z',
        reason: 'test',
        last_error: null,
        created_at: '2000-01-01T00:00:00.000Z',
      })
      .execute();
    const status = await app.inject({ method: 'GET', url: '/api/admin/gc', headers: basic('admin') });
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({
      enabled: true,
      review_delay_seconds: 0,
      delete_untagged: true,
      queues: { blobs: { queued: 1, due: 1, overdue: 1, retried: 0 }, manifests: { queued: 0 } },
      runs: [],
    });
    const dry = await app.inject({ method: 'POST', url: '/api/admin/gc?dry_run=true', headers: basicJson('admin') });
    expect(dry.statusCode).toBe(200);
    expect(dry.json()).toMatchObject({ dry_run: true });
    expect(
      (await app.inject({ method: 'POST', url: '/api/admin/gc?dry_run=maybe', headers: basicJson('admin') }))
        .statusCode,
    ).toBe(400);
    const run = await app.inject({ method: 'POST', url: '/api/admin/gc', headers: basicJson('admin') });
    expect(run.json()).toMatchObject({ dry_run: false, failures: 0 });
    const after = (await app.inject({ method: 'GET', url: '/api/admin/gc', headers: basic('admin') })).json() as {
      queues: { blobs: { queued: number } };
      runs: { dry_run: boolean; trigger: string }[];
    };
    expect(after.queues.blobs.queued).toBe(0);
    expect(after.runs.map((r) => [r.dry_run, r.trigger])).toEqual([
      [false, 'api'],
      [true, 'api'],
    ]);
  });
});

describe('the /admin/gc page', () => {
  const PASSWORDS = { admin: 'admin-Secret-0', alice: 'alice-Secret-1' };

  /** Signs in through the form; returns the cookies and the CSRF token of the session. */
  async function signIn(app: FastifyInstance, user: keyof typeof PASSWORDS) {
    const first = await app.inject({ method: 'GET', url: '/signin' });
    const csrfCookie = first.cookies.find((c) => c.name === 'wharf_csrf')?.value ?? '';
    const res = await app.inject({
      method: 'POST',
      url: '/signin',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `wharf_csrf=${csrfCookie}` },
      payload: new URLSearchParams({ username: user, password: PASSWORDS[user], _csrf: csrfCookie }).toString(),
    });
    const session = res.cookies.find((c) => c.name === 'wharf_session')?.value ?? '';
    const cookie = `wharf_session=${session}`;
    const pageHtml = (await app.inject({ method: 'GET', url: '/admin/gc', headers: { cookie } })).body;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(pageHtml)?.[1] ?? '';
    return { cookie, csrf };
  }

  it('shows the queues and runs to administrators, runs a dry run and a real run from its buttons', async () => {
    server = await hubServer(PASSWORDS, { env: { WHARF_GC_REVIEW_DELAY: '0s', WHARF_GC_INTERVAL: '1h' } });
    const app = server.app;
    const alice = await signIn(app, 'alice');
    expect((await app.inject({ method: 'GET', url: '/admin/gc', headers: { cookie: alice.cookie } })).statusCode).toBe(
      404,
    );

    const digest = `sha256:${'2'.repeat(64)}`;
    await server.ctx.db
      .insertInto('gc_blob_review')
      .values({
        digest,
        review_after: '2000-01-01T00:00:00.000Z',
        reason: 'test',
        last_error: null,
        created_at: '2000-01-01T00:00:00.000Z',
      })
      .execute();
    const admin = await signIn(app, 'admin');
    const view = await app.inject({ method: 'GET', url: '/admin/gc', headers: { cookie: admin.cookie } });
    expect(view.statusCode).toBe(200);
    expect(view.body).toContain('<h1>Garbage collection</h1>');
    expect(view.body).toMatch(/<td>Blobs<\/td><td>1<\/td><td>1<\/td><td>1<\/td><td>0<\/td>/);

    const post = (dryRun: boolean) =>
      app.inject({
        method: 'POST',
        url: '/admin/gc',
        headers: { cookie: admin.cookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ _csrf: admin.csrf, dry_run: String(dryRun) }).toString(),
      });
    const dry = await post(true);
    expect(dry.statusCode).toBe(200);
    expect(dry.body).toContain('Dry run: would delete 0 manifest(s) and 0 blob(s)');
    const run = await post(false);
    expect(run.body).toContain('Deleted 0 manifest(s) and 0 blob(s)');
    expect(run.body).toMatch(/<td>Blobs<\/td><td>0<\/td>/);
    const audit = await server.ctx.db.selectFrom('audit_log').select('action').where('action', '=', 'gc.run').execute();
    expect(audit).toHaveLength(1);
  });
});

describe('migration 0005_gc_review_queues', () => {
  it('queues what was already garbage in an existing store (untagged manifests, unused blobs), a day out', async () => {
    const dir = await tmpDir('wharf-gc-migration-');
    try {
      const file = join(dir, 'wharf.db');
      const before = Object.fromEntries(Object.entries(registryMigrations).filter(([k]) => k < '0005'));
      const old = await openMigratedSqlite<Database>(file, before, { label: 'test', busyTimeoutMs: 1000 });
      const at = new Date().toISOString();
      await old.insertInto('repositories').values({ name: 'old/repo', created_at: at }).execute();
      for (const digest of ['sha256:tagged', 'sha256:untagged']) {
        await old
          .insertInto('manifests')
          .values({
            repository_id: 1,
            digest,
            media_type: 'x',
            size: 1,
            content: Buffer.from('x'),
            artifact_type: null,
            subject_digest: null,
            annotations: null,
            created_at: at,
          })
          .execute();
      }
      await old
        .insertInto('tags')
        .values({ repository_id: 1, name: 'v1', manifest_digest: 'sha256:tagged', updated_at: at })
        .execute();
      for (const digest of ['sha256:used', 'sha256:unused'])
        await old.insertInto('blobs').values({ digest, size: 1, created_at: at }).execute();
      await old
        .insertInto('manifest_references')
        .values({ repository_id: 1, manifest_digest: 'sha256:tagged', child_digest: 'sha256:used', kind: 'blob' })
        .execute();
      await old.destroy();

      const db = await openSqlite(file);
      try {
        const manifests = await db
          .selectFrom('gc_manifest_review')
          .select(['digest', 'reason', 'review_after'])
          .execute();
        expect(manifests.map((m) => [m.digest, m.reason])).toEqual([['sha256:untagged', 'backfill']]);
        expect(Date.parse(manifests[0]?.review_after ?? '') - Date.now()).toBeGreaterThan(23 * 3_600_000);
        const blobs = await db.selectFrom('gc_blob_review').select(['digest', 'reason']).execute();
        expect(blobs).toEqual([{ digest: 'sha256:unused', reason: 'backfill' }]);
      } finally {
        await db.destroy();
      }
    } finally {
      await removeTmpDir(dir);
    }
  });
});
