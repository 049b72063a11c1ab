// Garbage collection figures (issue 11):
//  1. GC over a store of N manifests of which 1,000 lost their tag: N = 10,000 and N = 100,000.
//     The time must follow the deletions, not the store (the review queues hold only what changed).
//     Rows are seeded directly into the metadata database; the deleted images' blobs are real files.
//  2. Small-image push throughput (concurrency 4) with the server's GC off, and with GC running
//     every second with a 5 s delay while a deleter untags what was pushed (so GC always has work).
//   npm run bench   (or: npm run build && npx tsx bench/gc.ts [--manifests 10000,100000] [--duration 20] [--only store|push])
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { DATABASE_FILE, openSqlite } from '../src/metadata/db.js';
import { deleteTag } from '../src/metadata/tags.js';
import { parseDigest } from '../src/oci/digest.js';
import type { RegistryContext } from '../src/registry/context.js';
import { runGc } from '../src/registry/gc.js';
import { createDriver } from '../src/storage/factory.js';
import { paths } from '../src/storage/paths.js';
import { RegistryClient } from './client.js';
import { sha256, tinyImage } from './data.js';
import { startServer } from './servers.js';
import { hammer, pushImage } from './workloads.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DELETED = 1000;

const { values } = parseArgs({
  options: {
    manifests: { type: 'string', default: '10000,100000' },
    only: { type: 'string' },
    duration: { type: 'string', default: process.env.BENCH_GC_DURATION ?? '20' },
  },
});

const hex = (s: string) => sha256(s).slice('sha256:'.length);

/** Seeds `total` tagged single-layer images in one repository (all share one base layer). */
async function seedStore(root: string, total: number): Promise<{ ctx: RegistryContext; seedSeconds: number }> {
  const started = performance.now();
  const db = await openSqlite(join(root, DATABASE_FILE));
  const raw = new Database(join(root, DATABASE_FILE));
  const at = new Date().toISOString();
  const base = `sha256:${hex('base layer')}`;
  raw.transaction(() => {
    raw.prepare("insert into repositories (name, created_at, visibility) values ('bench/gc', ?, 'public')").run(at);
    const blob = raw.prepare('insert into blobs (digest, size, created_at) values (?, ?, ?)');
    const link = raw.prepare('insert into repository_blobs (repository_id, digest, created_at) values (1, ?, ?)');
    const manifest = raw.prepare(
      "insert into manifests (repository_id, digest, media_type, size, content, created_at) values (1, ?, 'application/vnd.oci.image.manifest.v1+json', 2, ?, ?)",
    );
    const ref = raw.prepare(
      "insert into manifest_references (repository_id, manifest_digest, child_digest, kind) values (1, ?, ?, 'blob')",
    );
    const tag = raw.prepare('insert into tags (repository_id, name, manifest_digest, updated_at) values (1, ?, ?, ?)');
    blob.run(base, 1024, at);
    link.run(base, at);
    const content = Buffer.from('{}');
    for (let i = 0; i < total; i++) {
      const m = `sha256:${hex(`manifest ${i}`)}`;
      const config = `sha256:${hex(`config ${i}`)}`;
      const layer = `sha256:${hex(`layer ${i}`)}`;
      manifest.run(m, content, at);
      for (const b of [config, layer]) {
        blob.run(b, 1024, at);
        link.run(b, at);
        ref.run(m, b);
      }
      ref.run(m, base);
      tag.run(`t${i}`, m, at);
    }
  })();
  raw.close();
  // Files only for what GC will delete (the first DELETED images): the run removes them.
  const storage = await createDriver({ driver: 'filesystem', root });
  for (let i = 0; i < DELETED; i++) {
    for (const name of [`config ${i}`, `layer ${i}`]) {
      const d = parseDigest(`sha256:${hex(name)}`);
      if (!d) throw new Error('bad digest');
      const file = join(root, paths.blob(d));
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, Buffer.alloc(1024, 1));
    }
  }
  const ctx: RegistryContext = {
    db,
    storage,
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
  return { ctx, seedSeconds: (performance.now() - started) / 1000 };
}

interface StoreFigure {
  manifests: number;
  deleted: number;
  manifestRunSeconds: number;
  blobRunSeconds: number;
  totalSeconds: number;
  /** CPU time of the runs: the wall time on a machine shared with other work is longer. */
  cpuSeconds: number;
  manifestsDeleted: number;
  blobsDeleted: number;
}

async function gcOverStore(total: number): Promise<StoreFigure> {
  const root = await mkdtemp(join(tmpdir(), 'wharf-bench-gc-'));
  try {
    const { ctx, seedSeconds } = await seedStore(root, total);
    process.stdout.write(`  seeded ${total} manifests in ${seedSeconds.toFixed(1)} s\n`);
    // The deletions go through the real path: each untagging queues its manifest.
    for (let i = 0; i < DELETED; i++) await deleteTag(ctx.db, 1, `t${i}`, new Date().toISOString());
    const gc = { deleteUntagged: true, reviewDelay: 0, trigger: 'bench' };
    // With no delay, what a deleted manifest frees is due at once: usually one run does it all.
    const cpu0 = process.cpuUsage();
    const first = await runGc(ctx, gc);
    const second = await runGc(ctx, gc);
    const cpu = process.cpuUsage(cpu0);
    await ctx.db.destroy();
    return {
      manifests: total,
      deleted: DELETED,
      manifestRunSeconds: first.seconds,
      blobRunSeconds: second.seconds,
      totalSeconds: first.seconds + second.seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      manifestsDeleted: first.manifestsDeleted + second.manifestsDeleted,
      blobsDeleted: first.blobsDeleted + second.blobsDeleted,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Push rate with GC off, then with GC every second (5 s delay) while a deleter untags what was pushed. */
async function pushThroughput(durationMs: number): Promise<{
  withoutGc: number;
  withGc: number;
  gcRuns: number;
  gcManifests: number;
}> {
  const rate = async (gcOn: boolean): Promise<{ perSec: number; gcRuns: number; gcManifests: number }> => {
    process.env.WHARF_GC_ENABLED = String(gcOn);
    process.env.WHARF_GC_INTERVAL = '1s';
    // A short delay, never none: a blob must outlive the gap between its upload and its manifest
    // (seconds on a loaded machine). What the deleter untags is due 5 s later, all run long.
    process.env.WHARF_GC_REVIEW_DELAY = '5s';
    const server = await startServer('wharf', repoRoot);
    const c = new RegistryClient(server.origin, 16);
    try {
      let pushed = 0;
      let stop = false;
      // The deleter: untags everything pushed so far, steadily, so that GC has work all along.
      const deleter = (async () => {
        let next = 0;
        while (!stop) {
          if (next < pushed - 4) {
            await c.req('DELETE', `/v2/bench/gc/manifests/i${next}`);
            next++;
          } else await new Promise((r) => setTimeout(r, 5));
        }
      })();
      await hammer(1000, 4, async (i) => pushImage(c, 'bench/warm', `w${i}`, tinyImage(900_000 + i)));
      const r = await hammer(durationMs, 4, async (i) => {
        await pushImage(c, 'bench/gc', `i${i}`, tinyImage(200_000 + i));
        pushed = Math.max(pushed, i);
      });
      stop = true;
      await deleter;
      const metrics = (await c.req('GET', '/metrics', { text: true })).text;
      const runs = Number(/wharf_gc_runs_total (\d+)/.exec(metrics)?.[1] ?? 0);
      const freed = Number(/wharf_gc_deleted_total\{kind="manifest"\} (\d+)/.exec(metrics)?.[1] ?? 0);
      return { perSec: r.perSec, gcRuns: runs, gcManifests: freed };
    } finally {
      await c.close();
      await server.stop();
    }
  };
  // Alternated, twice each, so that a change in the machine's load hits both sides alike.
  const off1 = await rate(false);
  const on1 = await rate(true);
  const off2 = await rate(false);
  const on2 = await rate(true);
  return {
    withoutGc: (off1.perSec + off2.perSec) / 2,
    withGc: (on1.perSec + on2.perSec) / 2,
    gcRuns: on1.gcRuns + on2.gcRuns,
    gcManifests: on1.gcManifests + on2.gcManifests,
  };
}

const sizes = values.only === 'push' ? [] : (values.manifests ?? '10000,100000').split(',').map(Number);
if (sizes.length > 0)
  process.stdout.write(
    `GC benchmark: ${DELETED} deletions in stores of ${sizes.join(', ')} manifests ` +
      `(${cpus().length} CPUs, load average ${loadavg()[0]?.toFixed(1)})\n`,
  );
const figures: StoreFigure[] = [];
for (const n of sizes) {
  const f = await gcOverStore(n);
  figures.push(f);
  process.stdout.write(
    `  ${n} manifests, ${f.deleted} untagged: GC ${f.totalSeconds.toFixed(2)} s (CPU ${f.cpuSeconds.toFixed(2)} s) ` +
      `(${f.manifestsDeleted} manifests and ${f.blobsDeleted} blobs deleted; runs of ` +
      `${f.manifestRunSeconds.toFixed(2)} s and ${f.blobRunSeconds.toFixed(2)} s)\n`,
  );
}
if (figures.length >= 2) {
  const [small, large] = [figures[0] as StoreFigure, figures[figures.length - 1] as StoreFigure];
  process.stdout.write(
    `  store ${large.manifests / small.manifests}x larger, same deletions: GC time x${(large.totalSeconds / small.totalSeconds).toFixed(2)}, ` +
      `CPU time x${(large.cpuSeconds / small.cpuSeconds).toFixed(2)}\n`,
  );
}
const duration = Number(values.duration) * 1000;
const push = values.only === 'store' ? undefined : await pushThroughput(duration);
if (push)
  process.stdout.write(
    `Small-image push, concurrency 4, ${values.duration} s: ${push.withoutGc.toFixed(1)} images/s without GC, ` +
      `${push.withGc.toFixed(1)} images/s with GC every second (${push.gcRuns} runs deleted ${push.gcManifests} manifests): ` +
      `${((push.withGc / push.withoutGc - 1) * 100).toFixed(1)} %\n`,
  );
