// Pull counts are kept in memory and written in batches (hub/pulls.ts), so the hot manifest GET
// writes nothing. On a real `wharf serve` process: a burst of 10,000 pulls is counted exactly and
// written within seconds; pulls made just before a SIGTERM are written by the clean shutdown and
// read back after a restart; HEADs and GETs by digest are not pulls.

import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Pool } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_FILE } from '../../src/metadata/db.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { startWharf, type WharfProcess } from '../support/server.js';
import { removeTmpDir, sleep, tmpDir } from '../support/tools.js';

const REPO = 'acme/app';

async function send(pool: Pool, method: 'GET' | 'HEAD' | 'POST' | 'PUT', path: string, body?: string, type?: string) {
  const res = await pool.request({
    method,
    path,
    headers: { accept: MediaType.ociManifest, ...(type ? { 'content-type': type } : {}) },
    body: body ?? null,
  });
  const text = await res.body.text();
  return { status: res.statusCode, text, digest: res.headers['docker-content-digest'] };
}

/** A tiny image under `tag`; returns the manifest digest. */
async function pushTiny(pool: Pool, tag: string): Promise<string> {
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
  const configDigest = digestOf(config);
  const blob = await send(
    pool,
    'POST',
    `/v2/${REPO}/blobs/uploads/?digest=${configDigest}`,
    config,
    'application/octet-stream',
  );
  expect(blob.status).toBe(201);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [],
  });
  const put = await send(pool, 'PUT', `/v2/${REPO}/manifests/${tag}`, manifest, MediaType.ociManifest);
  expect(put.status).toBe(201);
  return digestOf(manifest);
}

/** `n` GETs of `path` from 32 concurrent loops; every one must answer 200. */
async function pulls(pool: Pool, path: string, n: number, method: 'GET' | 'HEAD' = 'GET'): Promise<void> {
  let next = 0;
  const loop = async () => {
    while (next < n) {
      next++;
      const r = await send(pool, method, path);
      if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, loop));
}

function readCounts(dataDir: string): { pullCount: number; pulledAt: Record<string, string | null> } {
  const db = new Database(join(dataDir, DATABASE_FILE), { readonly: true, fileMustExist: true });
  try {
    const repo = db.prepare('SELECT id, pull_count FROM repositories WHERE name = ?').get(REPO) as {
      id: number;
      pull_count: number;
    };
    const tags = db.prepare('SELECT name, pulled_at FROM tags WHERE repository_id = ?').all(repo.id) as {
      name: string;
      pulled_at: string | null;
    }[];
    return { pullCount: repo.pull_count, pulledAt: Object.fromEntries(tags.map((t) => [t.name, t.pulled_at])) };
  } finally {
    db.close();
  }
}

/** Polls until the database shows `count` pulls; returns how long that took (ms). */
async function waitForCount(dataDir: string, count: number, withinMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const seen = readCounts(dataDir).pullCount;
    if (seen === count) return Date.now() - started;
    if (seen > count) throw new Error(`pull_count ${seen} went past ${count}`);
    if (Date.now() - started > withinMs)
      throw new Error(`pull_count still ${seen} after ${withinMs} ms, want ${count}`);
    await sleep(100);
  }
}

describe('pull counts, batched', () => {
  let wharf: WharfProcess | undefined;
  let dataDir: string | undefined;
  let pool: Pool | undefined;
  afterEach(async () => {
    await pool?.destroy();
    await wharf?.cleanup();
    if (dataDir) await removeTmpDir(dataDir);
  });

  it('counts a burst of 10,000 pulls exactly, writes them within seconds, and loses none on SIGTERM', async () => {
    dataDir = await tmpDir('wharf-pulls-');
    wharf = await startWharf({ dataDir });
    pool = new Pool(wharf.url, { connections: 32 });
    const digest = await pushTiny(pool, 'latest');
    await pushTiny(pool, 'unpulled');

    await pulls(pool, `/v2/${REPO}/manifests/latest`, 10_000);
    // Neither a HEAD nor a GET by digest is a pull.
    await pulls(pool, `/v2/${REPO}/manifests/latest`, 200, 'HEAD');
    await pulls(pool, `/v2/${REPO}/manifests/${digest}`, 200);
    await waitForCount(dataDir, 10_000, 5_000);
    const flushed = readCounts(dataDir);
    expect(flushed.pulledAt.unpulled).toBeNull();
    expect(Date.now() - Date.parse(flushed.pulledAt.latest ?? '')).toBeLessThan(60_000);

    // Pulls answered just before a clean stop are written by the shutdown, not dropped.
    await pulls(pool, `/v2/${REPO}/manifests/latest`, 777);
    await pool.destroy();
    pool = undefined;
    await wharf.stop();
    expect(wharf.child.exitCode).toBe(0);
    expect(readCounts(dataDir).pullCount).toBe(10_777);

    // And the restarted server reports them.
    wharf = await startWharf({ dataDir });
    const res = await fetch(`${wharf.url}/api/repositories/${REPO}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { pull_count: number }).pull_count).toBe(10_777);
  }, 120_000);
});
