// `wharf fsck` and `wharf gc` on a filesystem data directory (issue 11): a consistent store is
// clean; a missing file, a corrupt file and an orphan file are each reported; --repair removes the
// broken rows with the manifests that need them and queues the orphan, which the next GC removes.
// The commands run as users run them (the built CLI), here against a stopped server's data.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { digestOf, parseDigest } from '../../src/oci/digest.js';
import { fsck } from '../../src/registry/fsck.js';
import { buildServer, type WharfServer } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { paths } from '../../src/storage/paths.js';
import { pushBlob, pushImage } from '../support/push.js';
import { testDatabaseEnv, WHARF_BIN } from '../support/server.js';
import { removeTmpDir, run, tmpDir } from '../support/tools.js';

let server: WharfServer | undefined;
let dir: string | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  if (dir) await removeTmpDir(dir);
});

async function fsServer(root: string): Promise<WharfServer> {
  return buildServer(
    loadConfig({
      env: {
        ...(await testDatabaseEnv(root)),
        WHARF_STORAGE_ROOT: root,
        WHARF_LOG_LEVEL: 'silent',
        WHARF_AUTH_MODE: 'none',
        WHARF_GC_REVIEW_DELAY: '0s',
        WHARF_GC_INTERVAL: '1h',
      },
    }),
  );
}

/** The CLI's environment: it finds the server's metadata as the server does (its PostgreSQL database on the PG run). */
const cliEnv = async (root: string, extra: NodeJS.ProcessEnv = {}) => ({
  ...process.env,
  ...(await testDatabaseEnv(root)),
  ...extra,
});

const file = (root: string, digest: string) => {
  const d = parseDigest(digest);
  if (!d) throw new Error(digest);
  return join(root, paths.blob(d));
};

describe('wharf fsck', () => {
  it('finds missing, corrupt and orphan files; --repair fixes rows consistently and GC removes the orphan', async () => {
    dir = await tmpDir('wharf-fsck-');
    server = await fsServer(dir);
    const app = server.app;
    const broken = await pushImage(app, 'fsck/broken', 'v1', { layers: ['layer whose file goes missing'] });
    const corrupt = await pushImage(app, 'fsck/corrupt', 'v2', { layers: ['layer that gets corrupted'] });
    const fine = await pushImage(app, 'fsck/fine', 'v3', { layers: ['healthy layer'] });
    // Keep GC from touching these during the test: they are all referenced, but make sure.
    await server.ctx.db.deleteFrom('gc_blob_review').execute();
    await server.ctx.db.deleteFrom('gc_manifest_review').execute();

    const clean = await fsck(server.ctx);
    expect(clean.problems).toEqual([]);
    expect(clean.clean).toBe(true);
    expect(clean.blobsChecked).toBe(6);
    expect(clean.filesChecked).toBe(6);

    const missing = broken.layers[0] as string;
    const bad = corrupt.layers[0] as string;
    await rm(file(dir, missing));
    await writeFile(file(dir, bad), 'layer that gets CORRUPTED'); // same size, other bytes
    const orphanData = 'a file no row knows';
    const orphan = digestOf(orphanData);
    await mkdir(join(file(dir, orphan), '..'), { recursive: true });
    await writeFile(file(dir, orphan), orphanData);

    // The CLI against the same data directory (the server is running: WAL allows it).
    const check = await run(process.execPath, [WHARF_BIN, 'fsck', '--data', dir], { env: await cliEnv(dir) });
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(`missing_file ${missing}`);
    expect(check.stdout).toContain(`digest_mismatch ${bad}`);
    expect(check.stdout).toContain(`orphan_file ${orphan}`);
    expect(check.stdout).toMatch(/2 problem\(s\), 1 orphan file\(s\)/);

    const repaired = await fsck(server.ctx, { repair: true });
    expect(repaired.problems.map((p) => [p.kind, p.digest]).sort()).toEqual(
      [
        ['digest_mismatch', bad],
        ['missing_file', missing],
        ['orphan_file', orphan],
      ].sort(),
    );
    // The manifests that needed the broken blobs are gone with their tags; the healthy image stays.
    expect((await app.inject({ method: 'GET', url: '/v2/fsck/broken/manifests/v1' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/v2/fsck/corrupt/manifests/v2' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/v2/fsck/fine/manifests/v3' })).statusCode).toBe(200);
    expect((await fsck(server.ctx)).clean).toBe(true);

    // GC removes the orphan and the corrupt file (queued for now), and the freed configs later.
    const gc = await run(process.execPath, [WHARF_BIN, 'gc', '--data', dir, '--verbose'], {
      env: await cliEnv(dir, { WHARF_GC_REVIEW_DELAY: '0s' }),
    });
    expect(gc.code).toBe(0);
    expect(gc.stdout).toContain(`deleted blob ${orphan}`);
    expect(gc.stdout).toContain(`deleted blob ${bad}`);
    const after = await fsck(server.ctx);
    expect(after.problems).toEqual([]);
    expect((await app.inject({ method: 'GET', url: `/v2/fsck/fine/blobs/${fine.layers[0]}` })).statusCode).toBe(200);
  });

  it('wharf gc --dry-run lists what would go and deletes nothing', async () => {
    dir = await tmpDir('wharf-gc-cli-');
    server = await fsServer(dir);
    const blob = await pushBlob(server.app, 'cli/lonely', 'never referenced');
    await server.close();
    server = undefined;
    const env = await cliEnv(dir, { WHARF_GC_REVIEW_DELAY: '0s' });
    const dry = await run(process.execPath, [WHARF_BIN, 'gc', '--dry-run', '--data', dir], { env });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`would delete blob ${blob} (16B)`);
    expect(dry.stdout).toContain('Would delete 0 manifest(s) and 1 blob(s), 16B (16 bytes)');
    const real = await run(process.execPath, [WHARF_BIN, 'gc', '--json', '--data', dir], { env });
    expect(real.code).toBe(0);
    expect(JSON.parse(real.stdout)).toMatchObject({ blobsDeleted: 1, bytesFreed: 16, dryRun: false });
    const again = await run(process.execPath, [WHARF_BIN, 'fsck', '--data', dir], { env });
    expect(again.stdout).toContain('0 problem(s), 0 orphan file(s)');
    expect(again.code).toBe(0);
    const missingDir = await run(process.execPath, [WHARF_BIN, 'gc', '--data', join(dir, 'nope')]);
    expect(missingDir.code).toBe(1);
    expect(missingDir.stderr).toContain('no Wharf data in');
  });
});
