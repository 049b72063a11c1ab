// Issue 11, "Must show" 2 and 3, on a real `wharf serve` process:
// - Stress: 4 clients push and delete images for 60 s while the server's GC runs every 2 s with a
//   1 s review delay; afterwards every tagged image pulls with skopeo and verifies byte for byte,
//   and after a final GC + fsck there is no file without a row and no row without a file.
// - Crash safety: the server is SIGKILLed at 20 random moments during GC under that load; after
//   each restart fsck is clean (orphan files, which GC removes, aside) and every tagged image pulls.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_FILE, openSqlite } from '../../src/metadata/db.js';
import type { RegistryContext } from '../../src/registry/context.js';
import { type FsckReport, fsck } from '../../src/registry/fsck.js';
import { createDriver } from '../../src/storage/factory.js';
import { startWharf, WHARF_BIN, type WharfProcess } from '../support/server.js';
import { skopeoOk } from '../support/skopeo.js';
import { interopDescribe, removeTmpDir, run, sleep, tmpDir } from '../support/tools.js';
import { type LoadStats, listTagged, newStats, runClient, sha256, verifyTaggedOverHttp } from './load.js';

const CLIENTS = 4;

interface FsckJson {
  clean: boolean;
  problems: { kind: string; digest: string; detail: string }[];
  blobsChecked: number;
  filesChecked: number;
}

async function wharfCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = await run(process.execPath, [WHARF_BIN, ...args], { env: { ...process.env, ...env }, timeoutMs: 120_000 });
  return r;
}

async function fsckJson(dataDir: string): Promise<FsckJson> {
  const r = await wharfCli(['fsck', '--json', '--data', dataDir]);
  return JSON.parse(r.stdout) as FsckJson;
}

/** GC until a run deletes nothing (each run frees what the previous one's deletions released). */
async function collectAll(dataDir: string, env: NodeJS.ProcessEnv): Promise<void> {
  for (let i = 0; i < 6; i++) {
    const r = await wharfCli(['gc', '--json', '--data', dataDir], env);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { manifestsDeleted: number; blobsDeleted: number };
    if (report.manifestsDeleted === 0 && report.blobsDeleted === 0) return;
  }
}

let wharf: WharfProcess | undefined;
let dataDir: string | undefined;
afterEach(async () => {
  await wharf?.cleanup();
  wharf = undefined;
  if (dataDir) await removeTmpDir(dataDir);
  dataDir = undefined;
});

async function load(url: string, ms: number, stats: LoadStats, seed: number): Promise<void> {
  const until = Date.now() + ms;
  await Promise.all(
    Array.from({ length: CLIENTS }, (_, c) => runClient(url, c, () => Date.now() > until, stats, { seed })),
  );
}

interopDescribe('GC under load', ['skopeo'], () => {
  it('4 clients push and delete for 60 s while GC runs every 2 s: tagged images verify with skopeo, and a final GC + fsck leaves no orphan and no missing file', async () => {
    wharf = await startWharf({ env: { WHARF_GC_REVIEW_DELAY: '1s', WHARF_GC_INTERVAL: '2s' } });
    const stats = newStats();
    await load(wharf.url, 60_000, stats, 7);
    expect(stats.errors).toEqual([]);
    expect(stats.pushes).toBeGreaterThan(100);
    expect(stats.deletes).toBeGreaterThan(50);

    // GC did run and delete during the load.
    const metrics = await (await fetch(`${wharf.url}/metrics`)).text();
    const deletedBlobs = Number(/wharf_gc_deleted_total\{kind="blob"\} (\d+)/.exec(metrics)?.[1]);
    const deletedManifests = Number(/wharf_gc_deleted_total\{kind="manifest"\} (\d+)/.exec(metrics)?.[1]);
    expect(deletedManifests).toBeGreaterThan(20);
    expect(deletedBlobs).toBeGreaterThan(20);

    // Every image still tagged pulls with skopeo, byte for byte.
    const tagged = await listTagged(wharf.url);
    expect(tagged.length).toBeGreaterThan(0);
    const out = await tmpDir('wharf-stress-pull-');
    try {
      for (const { repo, tag } of tagged) {
        const dest = join(out, `${repo.replace('/', '_')}-${tag}`);
        await skopeoOk(['copy', '--src-tls-verify=false', `docker://${wharf.host}/${repo}:${tag}`, `dir:${dest}`]);
        const manifest = await readFile(join(dest, 'manifest.json'));
        const served = await fetch(`${wharf.url}/v2/${repo}/manifests/${tag}`, {
          method: 'HEAD',
          headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
        });
        expect(sha256(manifest)).toBe(served.headers.get('docker-content-digest'));
        const parsed = JSON.parse(manifest.toString()) as { config: { digest: string }; layers: { digest: string }[] };
        for (const d of [parsed.config, ...parsed.layers]) {
          const bytes = await readFile(join(dest, d.digest.slice('sha256:'.length)));
          expect(sha256(bytes)).toBe(d.digest);
        }
        expect((await readdir(dest)).length).toBe(2 + parsed.layers.length + 1); // + version
      }
    } finally {
      await removeTmpDir(out);
    }

    // Final GC (server stopped, no delay) and fsck: no orphan file, no row without its file.
    await wharf.stop();
    await collectAll(wharf.dataDir, { WHARF_GC_REVIEW_DELAY: '0s' });
    const report = await fsckJson(wharf.dataDir);
    expect(report.problems).toEqual([]);
    expect(report.blobsChecked).toBe(report.filesChecked);
    expect(report.blobsChecked).toBeGreaterThan(0);
  }, 240_000);
});

/** fsck in this process, against a data directory (the server may be running on it). */
async function fsckInProcess(dir: string): Promise<FsckReport> {
  const db = await openSqlite(join(dir, DATABASE_FILE));
  try {
    const ctx: RegistryContext = {
      db,
      storage: await createDriver({ driver: 'filesystem', root: dir }),
      options: {
        deleteEnabled: true,
        maxManifestSize: 4 << 20,
        catalogMaxEntries: 1000,
        tagsMaxEntries: 1000,
        uploadPurgeAge: 168 * 3_600_000,
        defaultVisibility: 'public',
      },
    };
    return await fsck(ctx);
  } finally {
    await db.destroy();
  }
}

describe('GC crash safety', () => {
  it('kill -9 at 20 random moments during GC under load: after each restart fsck is clean and every tagged image pulls', async () => {
    dataDir = await tmpDir('wharf-gc-crash-');
    const seed = Number(process.env.WHARF_CRASH_SEED ?? Date.now() % 100_000);
    let rand = seed;
    const next = () => {
      rand = (rand * 1103515245 + 12345) % 2147483648;
      return rand / 2147483648;
    };
    const env = { WHARF_GC_REVIEW_DELAY: '300ms', WHARF_GC_INTERVAL: '200ms' };
    let orphansSeen = 0;
    let checked = 0;
    for (let cycle = 0; cycle <= 20; cycle++) {
      // (Re)start on the same data: fsck is clean, apart from orphan files (GC-able), and
      // everything tagged pulls. Then load, and kill -9 at a random moment (20 times).
      wharf = await startWharf({ dataDir, env });
      if (cycle > 0) {
        const report = await fsckInProcess(dataDir);
        expect(report.clean, `after kill ${cycle} (seed ${seed}): ${JSON.stringify(report.problems)}`).toBe(true);
        orphansSeen += report.problems.length;
        checked += await verifyTaggedOverHttp(wharf.url);
      }
      if (cycle === 20) break;
      const stats = newStats();
      let stopped = false;
      const url = wharf.url;
      const clients = Promise.all(
        Array.from({ length: CLIENTS }, (_, c) => runClient(url, c, () => stopped, stats, { seed: seed + cycle })),
      );
      await sleep(600 + next() * 1600);
      await wharf.kill();
      stopped = true;
      await clients;
      expect(stats.errors, `cycle ${cycle} (seed ${seed})`).toEqual([]);
    }
    await wharf?.stop();
    wharf = undefined;
    expect(checked).toBeGreaterThan(0);

    // Then GC removes the orphans too (stale upload claims purged): a fully clean store.
    await wharfCli(['fsck', '--repair', '--data', dataDir]);
    await collectAll(dataDir, { WHARF_GC_REVIEW_DELAY: '0s', WHARF_STORAGE_UPLOAD_PURGE_AGE: '0s' });
    const final = await fsckJson(dataDir);
    expect(final.problems, `seed ${seed}, orphans seen along the way: ${orphansSeen}`).toEqual([]);
  }, 600_000);
});
