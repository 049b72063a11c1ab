// Honest disk usage and storage quotas (issue 11), on a real data directory (filesystem driver),
// in process: usage per repository and namespace splits unique from shared bytes and its totals
// agree with the files under blobs/ (summed sizes and `du --apparent-size`), in the API,
// `wharf usage` and /metrics. A namespace's quota refuses the blob upload or manifest PUT that
// would go over with DENIED and a message with quota and usage, keeps what is stored, lets two
// concurrent uploads take the last room only once, and a smaller plan deletes nothing.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import type { WharfServer } from '../../src/server/app.js';
import { prngBytes } from '../support/generated-blob.js';
import { pushBlob } from '../support/push.js';
import { hubServer, testDatabaseEnv, WHARF_BIN } from '../support/server.js';
import { removeTmpDir, run, runOk, tmpDir } from '../support/tools.js';
import { apiCall, asPusher, basicAuth } from './helpers.js';

const PASSWORDS = { admin: 'admin-Secret-0', alice: 'alice-Secret-1', bob: 'bob-Secret-2', carol: 'carol-Secret-3' };
const admin = basicAuth('admin', PASSWORDS.admin);
const alice = basicAuth('alice', PASSWORDS.alice);
const KiB = 1024;
const MiB = 1024 * KiB;

/** Pushes an image of the given blobs (config first) and returns the manifest's size. */
async function pushImage(app: FastifyInstance, repo: string, tag: string, layers: Buffer[]): Promise<number> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', repo, tag }));
  await pushBlob(app, repo, config);
  for (const l of layers) await pushBlob(app, repo, l);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: digestOf(l),
        size: l.length,
      })),
    }),
  );
  const res = await app.inject({
    method: 'PUT',
    url: `/v2/${repo}/manifests/${tag}`,
    headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    payload: manifest,
  });
  if (res.statusCode !== 201) throw new Error(`manifest: ${res.statusCode} ${res.body}`);
  return config.length + manifest.length;
}

/** Sum of the sizes of the files under `dir`. */
async function fileBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  }
  return total;
}

/** `du --apparent-size` of the files under `dir` (directories' own sizes left out). */
async function duFiles(dir: string): Promise<number> {
  const out = await runOk('sh', [
    '-c',
    'find "$1" -type f -print0 | du -cb --apparent-size --files0-from=- | tail -1',
    'sh',
    dir,
  ]);
  return Number(out.stdout.split(/\s/)[0]);
}

describe('disk usage and quotas on a real data directory', () => {
  let server: WharfServer;
  let app: FastifyInstance;
  let data: string;
  // The CLI finds the server's metadata as the server does (its PostgreSQL database on the PG run).
  let cliEnv: NodeJS.ProcessEnv;
  const base = prngBytes(1, 1 * MiB);
  const aliceOnly = prngBytes(2, 300 * KiB);
  const aliceBoth = prngBytes(3, 200 * KiB);
  const bobOnly = prngBytes(4, 100 * KiB);

  beforeAll(async () => {
    data = await tmpDir('wharf-usage-');
    const dbEnv = await testDatabaseEnv(data);
    cliEnv = { ...process.env, ...dbEnv };
    server = await hubServer(PASSWORDS, {
      env: { WHARF_STORAGE_DRIVER: 'filesystem', WHARF_STORAGE_ROOT: data, ...dbEnv },
    });
    app = server.app;
  });
  afterAll(async () => {
    await server?.close();
    await removeTmpDir(data);
  });

  it('splits unique from shared bytes per repository and namespace, and the totals agree with du', async () => {
    // alice/app and alice/web share aliceBoth; base is in alice/app and bob/app (across namespaces).
    const a1 = await pushImage(await asPusher(app, 'alice', PASSWORDS.alice, 'alice/app'), 'alice/app', '1', [
      base,
      aliceOnly,
      aliceBoth,
    ]);
    const a2 = await pushImage(await asPusher(app, 'alice', PASSWORDS.alice, 'alice/web'), 'alice/web', '1', [
      aliceBoth,
    ]);
    const b1 = await pushImage(await asPusher(app, 'bob', PASSWORDS.bob, 'bob/app'), 'bob/app', '1', [base, bobOnly]);

    const repo = await apiCall(app, 'GET', '/api/repositories/alice/app', alice);
    expect(repo.status).toBe(200);
    const storage = repo.body.storage as Record<string, number>;
    // Shared: base (with bob/app) and aliceBoth (with alice/web); unique: the rest, config and manifest included.
    expect(storage.shared_bytes).toBe(base.length + aliceBoth.length);
    expect(storage.unique_bytes).toBe(aliceOnly.length + a1);
    expect(storage.total_bytes).toBe((storage.unique_bytes ?? 0) + (storage.shared_bytes ?? 0));

    const ns = await apiCall(app, 'GET', '/api/namespaces/alice/usage', alice);
    expect(ns.status).toBe(200);
    // Within the namespace aliceBoth is alice's alone; base is shared with bob.
    expect(ns.body).toMatchObject({
      namespace: 'alice',
      repositories: 2,
      shared_bytes: base.length,
      unique_bytes: aliceOnly.length + aliceBoth.length + a1 + a2,
    });
    expect((await apiCall(app, 'GET', '/api/namespaces/alice/usage', basicAuth('bob', PASSWORDS.bob))).status).toBe(
      404,
    );

    const total = await apiCall(app, 'GET', '/api/admin/usage', admin);
    expect(total.status).toBe(200);
    const onDisk = await fileBytes(join(data, 'blobs'));
    expect(total.body.blob_bytes).toBe(onDisk);
    expect(await duFiles(join(data, 'blobs'))).toBe(onDisk);
    // Configs are blobs; what is not a blob is the manifests, kept in the database.
    const configs = [a1, a2, b1].reduce((n, x) => n + x, 0) - (total.body.manifest_bytes as number);
    expect(onDisk).toBe(base.length + aliceOnly.length + aliceBoth.length + bobOnly.length + configs);

    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain(`wharf_storage_bytes{kind="blobs"} ${onDisk}`);
    expect(metrics).toContain(`wharf_storage_namespace_bytes{namespace="alice",sharing="shared"} ${base.length}`);

    // `wharf usage` reads the same data directory while the server runs.
    const cli = await runOk(process.execPath, [WHARF_BIN, 'usage', '--data', data, '--bytes'], { env: cliEnv });
    const lines = cli.stdout.split('\n');
    expect(lines[0]).toMatch(/^NAMESPACE\s+REPOSITORIES\s+UNIQUE\s+SHARED\s+TOTAL$/);
    const aliceLine = lines.find((l) => l.startsWith('alice '))?.split(/\s+/);
    expect(aliceLine).toEqual([
      'alice',
      '2',
      String(ns.body.unique_bytes),
      String(base.length),
      String(ns.body.total_bytes),
    ]);
    expect(cli.stdout).toContain(`blobs ${onDisk} in`);
    const json = JSON.parse(
      (await runOk(process.execPath, [WHARF_BIN, 'usage', '--data', data, '--format', 'json'], { env: cliEnv })).stdout,
    ) as { blob_bytes: number };
    expect(json.blob_bytes).toBe(onDisk);
  });

  it('a quota refuses the upload that would go over with DENIED, quota and usage; stored bytes stay', async () => {
    const plan = await apiCall(app, 'PUT', '/api/plans/small', admin, { private_repos: 1, quota_bytes: '3MiB' });
    expect(plan.status, JSON.stringify(plan.body)).toBe(200);
    expect(plan.body).toMatchObject({ quota_bytes: 3 * MiB });
    expect((await apiCall(app, 'PUT', '/api/namespaces/carol/plan', admin, { plan: 'small' })).status).toBe(200);
    const pusher = await asPusher(app, 'carol', PASSWORDS.carol, 'carol/app');

    const first = prngBytes(10, 2 * MiB);
    await pushBlob(pusher, 'carol/app', first);
    const second = prngBytes(11, 2 * MiB);
    const refused = await pusher.inject({
      method: 'POST',
      url: `/v2/carol/app/blobs/uploads/?digest=${digestOf(second)}`,
      headers: { 'content-type': 'application/octet-stream' },
      payload: second,
    });
    expect(refused.statusCode).toBe(403);
    const error = (refused.json() as { errors: { code: string; message: string }[] }).errors[0];
    expect(error?.code).toBe('DENIED');
    expect(error?.message).toBe(
      'storage quota exceeded: namespace carol uses 2.0 MiB of its 3.0 MiB quota (plan small); this push needs 2.0 MiB more',
    );
    // Nothing of the refused blob is kept: no file, no row, no upload session left behind.
    const blobFile = (d: string) => join(data, 'blobs', 'sha256', d.slice(7, 9), d.slice(7), 'data');
    expect((await stat(blobFile(digestOf(first)))).size).toBe(first.length);
    await expect(stat(blobFile(digestOf(second)))).rejects.toThrow();
    expect(
      await server.ctx.db.selectFrom('uploads').selectAll().where('repository', '=', 'carol/app').execute(),
    ).toEqual([]);
    expect(
      (await apiCall(app, 'GET', '/api/namespaces/carol/usage', basicAuth('carol', PASSWORDS.carol))).body,
    ).toMatchObject({
      total_bytes: first.length,
      quota_bytes: 3 * MiB,
    });
    // The blob already stored still reads.
    expect((await pusher.inject({ method: 'HEAD', url: `/v2/carol/app/blobs/${digestOf(first)}` })).statusCode).toBe(
      200,
    );
    // A blob the namespace already holds adds nothing: another of its repositories may link it.
    const other = await asPusher(app, 'carol', PASSWORDS.carol, 'carol/other');
    expect(await pushBlob(other, 'carol/other', first)).toBe(digestOf(first));
  });

  it('wharf user plan --quota sets, changes and removes a quota, and refuses a size it cannot read', async () => {
    const cli = (args: string[]) =>
      run(process.execPath, [WHARF_BIN, 'user', 'plan', ...args, '--data', data], { env: cliEnv });
    const bad = await cli(['bob', 'cli-plan', '--quota', 'lots']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('invalid --quota "lots": use e.g. 10MiB, 5GB or none');
    expect(await server.ctx.db.selectFrom('plans').select('name').where('name', '=', 'cli-plan').execute()).toEqual([]);
    const set = await cli(['bob', 'cli-plan', '--quota', '1.5GiB']);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/^bob: plan cli-plan, 0 of 0 private repositories, [\d.]+ MiB of 1\.5 GiB storage$/m);
    const none = await cli(['bob', 'cli-plan', '--quota', 'none']);
    expect(none.stdout).toBe('bob: plan cli-plan, 0 of 0 private repositories\n');
    expect((await apiCall(app, 'GET', '/api/namespaces/bob/plan', admin)).body).toMatchObject({
      plan: 'cli-plan',
      quota_bytes: null,
    });
    // Back to the free plan (no quota) for the tests below.
    expect((await cli(['bob', 'free'])).code).toBe(0);
  });

  it('the manifest PUT that would go over is refused too; a smaller plan deletes nothing', async () => {
    const pusher = await asPusher(app, 'carol', PASSWORDS.carol, 'carol/app');
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    await pushBlob(pusher, 'carol/app', config);
    // Exactly full: the manifest's bytes do not fit any more.
    const used = (await apiCall(app, 'GET', '/api/namespaces/carol/plan', admin)).body.storage_used_bytes as number;
    expect((await apiCall(app, 'PUT', '/api/plans/small', admin, { private_repos: 1, quota_bytes: used })).status).toBe(
      200,
    );
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: [],
    });
    const put = await pusher.inject({
      method: 'PUT',
      url: '/v2/carol/app/manifests/1',
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      payload: manifest,
    });
    expect(put.statusCode).toBe(403);
    expect(put.body).toContain('storage quota exceeded: namespace carol');
    expect((await pusher.inject({ method: 'HEAD', url: '/v2/carol/app/manifests/1' })).statusCode).toBe(404);

    // A full namespace gets no cross-repository mount of another namespace's blob: the client
    // is sent to upload it instead (202), and that upload would be refused.
    const mounter = await asPusher(app, 'carol', PASSWORDS.carol, 'carol/app', ['alice/app']);
    const mount = await mounter.inject({
      method: 'POST',
      url: `/v2/carol/app/blobs/uploads/?mount=${digestOf(base)}&from=alice/app`,
    });
    expect(mount.statusCode).toBe(202);
    const session = String(mount.headers.location);
    expect((await mounter.inject({ method: 'DELETE', url: session })).statusCode).toBe(204);
    const within = await mounter.inject({
      method: 'POST',
      url: `/v2/carol/app/blobs/uploads/?mount=${digestOf(config)}&from=carol/app`,
    });
    expect(within.statusCode).toBe(201);

    // Shrinking the plan below the usage keeps everything readable.
    expect((await apiCall(app, 'PUT', '/api/plans/small', admin, { private_repos: 1, quota_bytes: 1024 })).status).toBe(
      200,
    );
    const after = await apiCall(app, 'GET', '/api/namespaces/carol/plan', admin);
    expect(after.body).toMatchObject({ quota_bytes: 1024, storage_used_bytes: used });
    expect((await pusher.inject({ method: 'HEAD', url: `/v2/carol/app/blobs/${digestOf(config)}` })).statusCode).toBe(
      200,
    );
  });

  it('two concurrent uploads cannot both take the last room', async () => {
    await apiCall(app, 'PUT', '/api/plans/tiny', admin, { private_repos: 0, quota_bytes: '1MiB' });
    await apiCall(app, 'PUT', '/api/namespaces/bob/plan', admin, { plan: 'tiny' });
    // bob already holds more than 1 MiB (base): make room with a fresh plan per byte count.
    const used = (await apiCall(app, 'GET', '/api/namespaces/bob/plan', admin)).body.storage_used_bytes as number;
    await apiCall(app, 'PUT', '/api/plans/tiny', admin, { private_repos: 0, quota_bytes: used + 600 * KiB });
    const blobs = [prngBytes(20, 400 * KiB), prngBytes(21, 400 * KiB), prngBytes(22, 400 * KiB)];
    // Three sessions with all their bytes received, then finished at the same moment.
    const uploads = server.uploads;
    const ids: string[] = [];
    for (const b of blobs) {
      const id = await uploads.start('bob/app');
      await uploads.append('bob/app', id, Readable.from([b]));
      ids.push(id);
    }
    // Each first (pre-transaction) check waits until all three passed it: the worst interleaving,
    // where only the check inside the linking transaction can keep the quota.
    const quota = server.ctx.quota;
    if (!quota) throw new Error('no quota hook');
    let arrived = 0;
    let release: () => void = () => {};
    const allArrived = new Promise<void>((resolve) => {
      release = resolve;
    });
    server.ctx.quota = {
      async refusal(db, repository, added) {
        const answer = await quota.refusal(db, repository, added);
        if (db === server.ctx.db && ++arrived <= blobs.length) {
          if (arrived === blobs.length) release();
          await allArrived;
        }
        return answer;
      },
    };
    const results = await Promise.allSettled(
      ids.map((id, i) => uploads.finish('bob/app', id, digestOf(blobs[i] as Buffer))),
    );
    server.ctx.quota = quota;
    expect(arrived).toBe(blobs.length);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected', 'rejected']);
    for (const r of results)
      if (r.status === 'rejected') expect((r.reason as Error).message).toContain('storage quota exceeded');
    const now = (await apiCall(app, 'GET', '/api/namespaces/bob/plan', admin)).body.storage_used_bytes as number;
    expect(now).toBe(used + 400 * KiB);
    // The refused ones left no file behind: the blob files are exactly the blob rows.
    const totals = await apiCall(app, 'GET', '/api/admin/usage', admin);
    expect(await fileBytes(join(data, 'blobs'))).toBe(totals.body.blob_bytes);
    expect(await server.ctx.db.selectFrom('uploads').selectAll().execute()).toEqual([]);
  });
});
