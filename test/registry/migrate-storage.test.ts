// migrateStorage in process (issue 12): a filesystem + SQLite registry copied into another data
// directory's filesystem storage and the run's database (SQLite, or PostgreSQL on the PG run).
// Blobs are staged and renamed (nothing unverified under a digest), the SQLite full-text index
// is rebuilt by its triggers rather than copied, and a server on the target serves it all.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MetadataDb, openMetadata } from '../../src/metadata/db.js';
import { parseDigest } from '../../src/oci/digest.js';
import { migrateStorage } from '../../src/registry/migrate-storage.js';
import { buildServer } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js';
import { paths } from '../../src/storage/paths.js';
import { createDatabase, testOnPostgres } from '../support/postgres.js';
import { type PushedImage, pushImage } from '../support/push.js';
import { removeTmpDir, tmpDir } from '../support/tools.js';

const pool = { max: 2, idleTimeoutMs: 1_000, connectTimeoutMs: 5_000 };

describe('migrateStorage', () => {
  let from: string;
  let to: string;
  let url: string;
  let pushed: PushedImage;
  const env = (root: string, databaseUrl: string) => ({
    WHARF_STORAGE_ROOT: root,
    WHARF_DATABASE_URL: databaseUrl,
    WHARF_LOG_LEVEL: 'silent',
    WHARF_AUTH_MODE: 'none',
  });

  beforeAll(async () => {
    [from, to] = await Promise.all([tmpDir('wharf-migrate-from-'), tmpDir('wharf-migrate-to-')]);
    url = testOnPostgres() ? await createDatabase() : '';
    const source = await buildServer(loadConfig({ env: env(from, '') }));
    pushed = await pushImage(source.app, 'team/searchable-app', 'v1', { layers: ['layer one', 'layer two'] });
    await source.close();
  });
  afterAll(async () => {
    await removeTmpDir(from);
    await removeTmpDir(to);
  });

  it('copies blobs and every table; the target serves the image and finds it by search', async () => {
    const open = (root: string, databaseUrl: string): Promise<MetadataDb> =>
      openMetadata({ url: databaseUrl, pool, sqliteFile: join(root, 'wharf.db') });
    const [sourceDb, targetDb] = await Promise.all([open(from, ''), open(to, url)]);
    const seen: number[] = [];
    try {
      const report = await migrateStorage({
        source: { db: sourceDb, storage: new FilesystemDriver(from) },
        target: { db: targetDb, storage: new FilesystemDriver(to) },
        resume: false,
        onBlob: (p) => seen.push(p.done),
      });
      expect(report.blobs).toMatchObject({ done: 3, total: 3, present: 0 });
      expect(seen.sort()).toEqual([1, 2, 3]);
      // Staged blobs were renamed into place: nothing is left beside them.
      expect(await new FilesystemDriver(to).list('/uploads').catch(() => [])).toEqual([]);
      const tables = new Map(report.tables.map((t) => [t.table, t.rows]));
      expect(tables.get('repositories')).toBe(1);
      expect(tables.get('manifests')).toBe(1);
      expect(tables.has('uploads')).toBe(false);
      expect([...tables.keys()].some((t) => t.startsWith('repository_fts'))).toBe(false);
      // Parents first: a repository before its manifests, a manifest before its tags.
      const order = report.tables.map((t) => t.table);
      expect(order.indexOf('repositories')).toBeLessThan(order.indexOf('manifests'));
      expect(order.indexOf('manifests')).toBeLessThan(order.indexOf('tags'));

      // As after an interrupted run: one blob missing from the target. Without --resume the
      // non-empty target is refused; with it, only the missing blob is copied again.
      const layer = parseDigest(pushed.layers[0] ?? '');
      if (!layer) throw new Error('no layer digest');
      await new FilesystemDriver(to).delete(paths.blobDir(layer));
      const options = {
        source: { db: sourceDb, storage: new FilesystemDriver(from) },
        target: { db: targetDb, storage: new FilesystemDriver(to) },
      };
      await expect(migrateStorage({ ...options, resume: false })).rejects.toThrow('the target database is not empty');
      const resumed = await migrateStorage({ ...options, resume: true });
      expect(resumed.blobs).toMatchObject({ done: 3, present: 2, bytes: 'layer one'.length });
    } finally {
      await Promise.all([sourceDb.destroy(), targetDb.destroy()]);
    }

    const target = await buildServer(loadConfig({ env: env(to, url) }));
    try {
      const manifest = await target.app.inject({ url: '/v2/team/searchable-app/manifests/v1' });
      expect(manifest.statusCode).toBe(200);
      expect(manifest.rawPayload.equals(pushed.body)).toBe(true);
      const layer = await target.app.inject({ url: `/v2/team/searchable-app/blobs/${pushed.layers[1]}` });
      expect(layer.body).toBe('layer two');
      const search = await target.app.inject({ url: '/v1/search?q=searchable' });
      expect(search.json()).toMatchObject({ num_results: 1 });
      // New pushes get new ids (sequences on PostgreSQL), and land beside the copied ones.
      await pushImage(target.app, 'team/another', 'v1', { layers: ['layer three'] });
      expect((await target.app.inject({ url: '/v2/_catalog' })).json()).toEqual({
        repositories: ['team/another', 'team/searchable-app'],
      });
    } finally {
      await target.close();
    }
  });
});
