// Pull-through cache eviction figures (issue 13): the cost of the eviction pass that starts every
// GC run, over a cache of N cached images (a config and a layer each, 1 MiB rows), on SQLite:
//  1. the cache fits under proxy.max_bytes (what most runs see: two aggregates, nothing loaded);
//  2. the cache is 10 % over the limit: the least recently pulled 10 % are evicted, their blobs deleted;
//  3. proxy.keep_days alone with 10 % stale.
// Rows are seeded directly into the metadata database; the evicted images' blobs are real files.
//   npx tsx bench/eviction.ts [--images 10000,50000]
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { DATABASE_FILE, openSqlite } from '../src/metadata/db.js';
import { parseDigest } from '../src/oci/digest.js';
import type { RegistryContext } from '../src/registry/context.js';
import { runGc } from '../src/registry/gc.js';
import { type EvictionOptions, evictCache } from '../src/registry/proxy/evict.js';
import { createDriver } from '../src/storage/factory.js';
import { paths } from '../src/storage/paths.js';
import { sha256 } from './data.js';

const { values } = parseArgs({ options: { images: { type: 'string', default: '10000,50000' } } });
const MIB = 1024 * 1024;
const DAY = 86_400_000;
const hex = (s: string) => sha256(s).slice('sha256:'.length);

/** N cached images in 100 repositories; image i last pulled i minutes after a time 30 days ago. */
async function seed(root: string, total: number): Promise<RegistryContext> {
  const db = await openSqlite(join(root, DATABASE_FILE));
  const raw = new Database(join(root, DATABASE_FILE));
  const at = new Date().toISOString();
  const start = Date.now() - 30 * DAY;
  raw.transaction(() => {
    const repo = raw.prepare("insert into repositories (name, created_at, visibility) values (?, ?, 'public')");
    for (let r = 0; r < 100; r++) repo.run(`cache/hub/img${r}`, at);
    const blob = raw.prepare('insert into blobs (digest, size, created_at) values (?, ?, ?)');
    const link = raw.prepare('insert into repository_blobs (repository_id, digest, created_at) values (?, ?, ?)');
    const manifest = raw.prepare(
      "insert into manifests (repository_id, digest, media_type, size, content, created_at) values (?, ?, 'application/vnd.oci.image.manifest.v1+json', 2, ?, ?)",
    );
    const ref = raw.prepare(
      "insert into manifest_references (repository_id, manifest_digest, child_digest, kind) values (?, ?, ?, 'blob')",
    );
    const tag = raw.prepare('insert into tags (repository_id, name, manifest_digest, updated_at) values (?, ?, ?, ?)');
    const cached = raw.prepare(
      "insert into proxy_manifests (repository_id, digest, remote, cached_at, pulled_at) values (?, ?, 'hub', ?, ?)",
    );
    const content = Buffer.from('{}');
    for (let i = 0; i < total; i++) {
      const r = (i % 100) + 1;
      const m = `sha256:${hex(`manifest ${i}`)}`;
      manifest.run(r, m, content, at);
      for (const b of [`config ${i}`, `layer ${i}`]) {
        const d = `sha256:${hex(b)}`;
        blob.run(d, MIB, at);
        link.run(r, d, at);
        ref.run(r, m, d);
      }
      tag.run(r, `t${i}`, m, at);
      const pulled = new Date(start + i * 60_000).toISOString();
      cached.run(r, m, pulled, pulled);
    }
  })();
  raw.close();
  // Files for what is evicted (the least recently pulled 10 %): the runs remove them.
  for (let i = 0; i < total / 10; i++) {
    for (const name of [`config ${i}`, `layer ${i}`]) {
      const d = parseDigest(`sha256:${hex(name)}`);
      if (!d) throw new Error('bad digest');
      const file = join(root, paths.blob(d));
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, Buffer.alloc(16, 1));
    }
  }
  return {
    db,
    storage: await createDriver({ driver: 'filesystem', root }),
    options: {
      deleteEnabled: true,
      maxManifestSize: 4 << 20,
      catalogMaxEntries: 1000,
      tagsMaxEntries: 1000,
      uploadPurgeAge: 168 * 3_600_000,
      defaultVisibility: 'public',
      gcReviewDelay: 0,
    },
  };
}

async function figure(total: number, label: string, eviction: (bytes: number) => EvictionOptions): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'wharf-bench-evict-'));
  try {
    const ctx = await seed(root, total);
    const bytes = total * (2 * MIB + 2);
    // The eviction pass alone, then the run that reviews what it queued (the blobs it freed).
    const at = new Date().toISOString();
    const t0 = performance.now();
    const evicted = await evictCache(ctx, { ...eviction(bytes), dryRun: false, at, reviewAfter: at });
    const evictSeconds = (performance.now() - t0) / 1000;
    const report = await runGc(ctx, { deleteUntagged: true, reviewDelay: 0, trigger: 'bench' });
    process.stdout.write(
      `  ${String(total).padStart(6)} images, ${label.padEnd(32)} eviction ${evictSeconds.toFixed(3).padStart(7)} s` +
        ` (${evicted.evicted.length} evicted); then GC ${report.seconds.toFixed(3).padStart(7)} s (${report.blobsDeleted} blobs)\n`,
    );
    await ctx.db.destroy();
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

process.stdout.write('Eviction pass of a GC run (SQLite, one run each):\n');
for (const n of (values.images ?? '').split(',').map(Number)) {
  await figure(n, 'fits under max_bytes', (bytes) => ({ maxBytes: bytes + 1, keepDays: 0 }));
  await figure(n, 'max_bytes 10 % under the cache', (bytes) => ({
    maxBytes: Math.floor(bytes * 0.9) + 2,
    keepDays: 0,
  }));
  // Image i was pulled i minutes after 30 days ago: the first 10 % are older than this cutoff.
  await figure(n, 'keep_days, 10 % stale', () => ({ maxBytes: 0, keepDays: 30 - (n / 10) * (60_000 / DAY) }));
}
