// `wharf migrate-storage` (issue 12): an embedded registry (SQLite + files) filled by skopeo
// (a multi-arch index, a private repository) and hub data (a user, an organization, a star, a
// webhook) moves to PostgreSQL + S3 (a real Swift); a server there serves the same images byte
// for byte, the same logins and the same privacy. A second run is refused (or resumed), and a
// corrupted blob in the source stops the move with its digest named, leaving the target empty.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { registryRows } from '../../src/metadata/copy.js';
import { DATABASE_FILE, type MetadataDb, openMetadata } from '../../src/metadata/db.js';
import { parseDigest } from '../../src/oci/digest.js';
import { PathNotFoundError } from '../../src/storage/driver.js';
import type { S3Driver } from '../../src/storage/drivers/s3.js';
import { paths } from '../../src/storage/paths.js';
import { readLayoutIndex, writeMultiPlatformLayout } from '../support/oci-layout.js';
import { createDatabase, type PgCluster, startPostgres, testOnPostgres } from '../support/postgres.js';
import { startWharf, WHARF_BIN, type WharfProcess } from '../support/server.js';
import { skopeo, skopeoOk } from '../support/skopeo.js';
import { createSwiftBucket, SWIFT_TOOLS, type SwiftStore, startSwift, swiftDriver } from '../support/swift.js';
import { interopDescribe, interopIt, removeTmpDir, run, runOk, tmpDir } from '../support/tools.js';

const TIMEOUT = 240_000;
const BUCKET = 'wharf-migrated';
const ADMIN = 'admin-Secret-0';
const ALICE = 'alice-Secret-1';
const TOOLS = [...SWIFT_TOOLS, 'skopeo', 'pg_ctlcluster'];
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

interopDescribe('wharf migrate-storage: SQLite + files → PostgreSQL + S3', TOOLS, () => {
  let store: SwiftStore;
  let cluster: PgCluster | undefined;
  let work: string;
  let source: WharfProcess;
  let layout: string;
  let _s3: S3Driver;

  /** A target configuration file: a fresh database and its own prefix in the bucket. */
  const target = async (name: string) => {
    const url = await createDatabase(cluster?.url);
    const file = join(work, `${name}.yaml`);
    await writeFile(
      file,
      `database:\n  url: "${url}"\nstorage:\n  driver: s3\n  s3:\n    bucket: ${BUCKET}\n    endpoint: ${store.endpoint}\n` +
        `    region: ${store.region}\n    force_path_style: true\n    prefix: ${name}\n` +
        `    access_key_id: ${store.accessKeyId}\n    secret_access_key: ${store.secretAccessKey}\n`,
    );
    return { file, url, prefix: name };
  };
  const migrate = (args: string[]) =>
    run(process.execPath, [WHARF_BIN, 'migrate-storage', '--from', source.dataDir, ...args], { timeoutMs: 120_000 });
  const api = (base: string, method: string, path: string, auth?: string, body?: unknown) =>
    fetch(`${base}/api${path}`, {
      method,
      headers: {
        ...(auth ? { authorization: auth } : {}),
        ...(method !== 'GET' ? { 'content-type': 'application/json' } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  beforeAll(async () => {
    [store, work] = await Promise.all([startSwift(), tmpDir('wharf-migrate-storage-')]);
    if (!testOnPostgres()) cluster = await startPostgres();
    _s3 = await createSwiftBucket(store.endpoint, BUCKET);

    // The embedded registry (SQLite even on the PG run), in token mode, filled by skopeo and the API.
    source = await startWharf({
      env: {
        WHARF_AUTH_MODE: 'token',
        WHARF_DATABASE_URL: '',
        WHARF_ADMIN_PASSWORD: ADMIN,
        WHARF_WEBHOOKS_ALLOW_PRIVATE_TARGETS: 'true',
      },
    });
    await runOk(process.execPath, [WHARF_BIN, 'user', 'add', 'alice', '--password-stdin', '--data', source.dataDir], {
      input: `${ALICE}\n`,
      env: { ...process.env, WHARF_DATABASE_URL: '' },
    });
    const alice = basic('alice', ALICE);
    expect(
      (await api(source.url, 'POST', '/repositories/alice', alice, { name: 'secret', is_private: true })).status,
    ).toBe(201);
    layout = join(work, 'layout');
    await writeMultiPlatformLayout(layout, 'multi', [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ]);
    // A second image (one platform's manifest, no index), pushed into the private repository.
    const big = join(work, 'big');
    await writeMultiPlatformLayout(big, 'big', [{ os: 'linux', architecture: 'amd64' }]);
    const creds = `--dest-creds=alice:${ALICE}`;
    await skopeoOk([
      'copy',
      '--all',
      '--dest-tls-verify=false',
      creds,
      `oci:${layout}:multi`,
      `docker://${source.host}/alice/multi:v1`,
    ]);
    await skopeoOk([
      'copy',
      '--dest-tls-verify=false',
      creds,
      `oci:${big}:big`,
      `docker://${source.host}/alice/secret:v1`,
    ]);
    expect((await api(source.url, 'POST', '/orgs', alice, { name: 'acme' })).status).toBe(201);
    expect(
      (await api(source.url, 'POST', '/repositories/alice/multi/star', basic('admin', ADMIN))).status,
    ).toBeLessThan(300);
    const hook = await api(source.url, 'POST', '/repositories/alice/multi/webhooks', alice, {
      name: 'ci',
      url: 'http://127.0.0.1:9/hook',
    });
    expect(hook.status).toBe(201);
    await source.stop();
  }, TIMEOUT);

  afterAll(async () => {
    await source?.cleanup();
    await store?.stop();
    await cluster?.stop();
    if (work) await removeTmpDir(work);
  });

  interopIt(
    'moves everything; a server on PostgreSQL + S3 serves the same images, logins and privacy',
    TOOLS,
    async () => {
      const sourceDb: MetadataDb = await openMetadata({
        url: '',
        pool: { max: 1, idleTimeoutMs: 1000, connectTimeoutMs: 1000 },
        sqliteFile: join(source.dataDir, DATABASE_FILE),
      });
      const sourceBlobs = (await sourceDb.selectFrom('blobs').select('digest').execute()).map((r) => r.digest);
      const blobCount = sourceBlobs.length;
      await sourceDb.destroy();
      expect(blobCount).toBe(4); // two layers and two configs (the second image shares its platform's)

      const to = await target('moved');
      const moved = await migrate(['--to', to.file]);
      expect(moved.code, moved.stderr).toBe(0);
      expect(moved.stderr).toContain(`blobs: ${blobCount}/${blobCount}`);
      expect(moved.stdout).toMatch(
        new RegExp(`^migrated ${blobCount} blobs \\(.* copied, digests verified\\) and \\d+ rows in \\d+ tables\\n$`),
      );

      const server = await startWharf({
        env: { WHARF_CONFIG: to.file, WHARF_DATABASE_URL: to.url, WHARF_AUTH_MODE: 'token' },
      });
      try {
        // skopeo copies the images back, byte for byte.
        const out = join(work, 'out');
        await skopeoOk([
          'copy',
          '--all',
          '--src-tls-verify=false',
          `--src-creds=alice:${ALICE}`,
          `docker://${server.host}/alice/multi:v1`,
          `oci:${out}:multi`,
        ]);
        const [inIndex, outIndex] = await Promise.all([readLayoutIndex(layout), readLayoutIndex(out)]);
        expect(outIndex.manifests[0]?.digest).toBe(inIndex.manifests[0]?.digest);
        const blobs = async (dir: string) => (await readdir(join(dir, 'blobs', 'sha256'))).sort();
        expect(await blobs(out)).toEqual(await blobs(layout));
        for (const hex of await blobs(layout)) {
          const [a, b] = await Promise.all(
            [1, 2].map((i) => readFile(join(i === 1 ? layout : out, 'blobs', 'sha256', hex))),
          );
          expect(a?.equals(b ?? Buffer.alloc(0))).toBe(true);
        }
        // The blobs are in the bucket, under the target's prefix.
        const inBucket = swiftDriver(store.endpoint, BUCKET, to.prefix);
        for (const d of sourceBlobs) {
          const digest = parseDigest(d);
          if (!digest) throw new Error(`bad digest ${d}`);
          expect((await inBucket.stat(paths.blob(digest))).size).toBeGreaterThan(0);
        }

        // The same password logs in; the private repository stays private; hub data is there.
        expect(
          (await fetch(`${server.url}/token?service=wharf`, { headers: { authorization: basic('alice', ALICE) } }))
            .status,
        ).toBe(200);
        expect(
          (await fetch(`${server.url}/token?service=wharf`, { headers: { authorization: basic('alice', 'wrong') } }))
            .status,
        ).toBe(401);
        expect((await api(server.url, 'GET', '/repositories/alice/secret')).status).toBe(404);
        const secret = await api(server.url, 'GET', '/repositories/alice/secret', basic('alice', ALICE));
        expect(secret.status).toBe(200);
        expect(await secret.json()).toMatchObject({ is_private: true });
        const anonymous = await skopeo([
          'inspect',
          '--raw',
          '--tls-verify=false',
          `docker://${server.host}/alice/secret:v1`,
        ]);
        expect(anonymous.code).not.toBe(0);
        expect(await (await api(server.url, 'GET', '/repositories/alice/multi')).json()).toMatchObject({
          star_count: 1,
        });
        const hooks = await (
          await api(server.url, 'GET', '/repositories/alice/multi/webhooks', basic('alice', ALICE))
        ).text();
        expect(hooks).toContain('http://127.0.0.1:9/hook');
        expect((await api(server.url, 'GET', '/orgs/acme')).status).toBe(200);
        // New rows get new ids (PostgreSQL's sequences continue after the copied ones).
        expect(
          (await api(server.url, 'POST', '/repositories/alice', basic('alice', ALICE), { name: 'after' })).status,
        ).toBe(201);
        expect((await api(server.url, 'POST', '/orgs', basic('alice', ALICE), { name: 'later' })).status).toBe(201);
      } finally {
        await server.cleanup();
      }

      // Again into the same target: refused, unless resumed (every blob already there).
      const again = await migrate(['--to', to.file]);
      expect(again.code).not.toBe(0);
      expect(again.stderr).toContain('the target database is not empty');
      const resumed = await migrate(['--to', to.file, '--resume']);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stdout).toContain(`${blobCount} already there`);
    },
    TIMEOUT,
  );

  interopIt('a corrupted blob in the source stops the move, naming it; the target stays empty', TOOLS, async () => {
    // The largest blob of the source (a layer), one byte flipped: same size, other content.
    const db = await openMetadata({
      url: '',
      pool: { max: 1, idleTimeoutMs: 1000, connectTimeoutMs: 1000 },
      sqliteFile: join(source.dataDir, DATABASE_FILE),
    });
    const row = await db
      .selectFrom('blobs')
      .select(['digest', 'size'])
      .orderBy('size', 'desc')
      .executeTakeFirstOrThrow();
    await db.destroy();
    const digest = parseDigest(row.digest);
    if (!digest) throw new Error('bad digest');
    const file = join(source.dataDir, paths.blob(digest));
    const bytes = await readFile(file);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
    await writeFile(file, bytes);

    const to = await target('corrupt');
    const res = await migrate(['--to', to.file]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(`wharf: blob ${row.digest} is corrupt in the source`);
    const inBucket = swiftDriver(store.endpoint, BUCKET, to.prefix);
    await expect(inBucket.stat(paths.blob(digest))).rejects.toBeInstanceOf(PathNotFoundError);
    const targetDb = await openMetadata({
      url: to.url,
      pool: { max: 1, idleTimeoutMs: 1000, connectTimeoutMs: 5000 },
      sqliteFile: '',
    });
    expect(await registryRows(targetDb)).toBe(0);
    await targetDb.destroy();
  });
});
