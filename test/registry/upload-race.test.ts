// Issue 12: uploads shared by several nodes on PostgreSQL + S3 (Swift), hunting the race in which
// a node answered DIGEST_INVALID with the *empty* sha256 as the actual digest: it found no bytes
// at the finish, because another request on another node (a PUT that nginx's proxy_next_upstream
// passed on again, PUT being idempotent) had already moved them under the digest. Each node here
// is its own Uploads with its own S3 client and its own PostgreSQL pool, as `wharf serve` has.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect } from 'vitest';
import { type MetadataDb, openMetadata } from '../../src/metadata/db.js';
import { findUpload } from '../../src/metadata/uploads.js';
import type { RegistryContext } from '../../src/registry/context.js';
import { RegistryError } from '../../src/registry/errors.js';
import { Uploads } from '../../src/registry/uploads.js';
import { PathNotFoundError, type StorageDriver, StorageUnavailableError } from '../../src/storage/driver.js';
import { PART_MIN } from '../../src/storage/drivers/s3.js';
import { paths } from '../../src/storage/paths.js';
import { createDatabase, type PgCluster, startPostgres } from '../support/postgres.js';
import { seededRandom } from '../support/seeded.js';
import { SWIFT_TOOLS, type SwiftStore, startSwift, swiftDriver } from '../support/swift.js';
import { interopDescribe, interopIt, waitFor } from '../support/tools.js';

const TOOLS = [...SWIFT_TOOLS, 'pg_ctlcluster'];
const BUCKET = 'upload-race';
const EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

interface Node {
  uploads: Uploads;
  db: MetadataDb;
  /** Runs before each storage call of this node (a test's gate); the call waits for it. */
  before?: (method: string, path: string) => Promise<void>;
  /** Upload data paths this node found missing (any storage call). */
  missing: Set<string>;
}

interopDescribe('upload sessions across nodes on PostgreSQL + S3 (Swift): races', TOOLS, () => {
  let pg: PgCluster;
  let store: SwiftStore;
  const nodes: Node[] = [];

  const s3 = () => swiftDriver(store.endpoint, BUCKET);

  beforeAll(async () => {
    [pg, store] = await Promise.all([startPostgres(), startSwift()]);
    await s3().client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const url = await createDatabase(pg.url);
    for (let i = 0; i < 3; i++) {
      const db = await openMetadata({
        url,
        pool: { max: 5, idleTimeoutMs: 30_000, connectTimeoutMs: 5_000 },
        sqliteFile: '',
      });
      const driver = s3();
      const node: Node = { db, missing: new Set(), uploads: undefined as unknown as Uploads };
      const storage: StorageDriver = new Proxy(driver, {
        get(target, prop, receiver) {
          const value: unknown = Reflect.get(target, prop, receiver);
          if (typeof value !== 'function') return value;
          return async (...args: unknown[]) => {
            const path = String(args[0]);
            await node.before?.(String(prop), path);
            try {
              return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
            } catch (err) {
              // However the node found the bytes gone: a stat, a read, or the move under the digest.
              if (err instanceof PathNotFoundError) node.missing.add(path);
              throw err;
            }
          };
        },
      });
      const ctx: RegistryContext = {
        db,
        storage,
        options: {
          deleteEnabled: true,
          maxManifestSize: 4 * 1024 * 1024,
          catalogMaxEntries: 1000,
          tagsMaxEntries: 1000,
          uploadPurgeAge: 3_600_000,
          defaultVisibility: 'public',
          sharedUploads: true,
        },
      };
      node.uploads = new Uploads(ctx);
      nodes.push(node);
    }
  }, 120_000);

  afterAll(async () => {
    for (const n of nodes) await n.db.destroy();
    await store?.stop();
    await pg?.stop();
  });

  const node = (i: number): Node => nodes[i % nodes.length] as Node;

  async function stored(digest: string): Promise<string> {
    return sha256(await s3().getContent(paths.blob({ algorithm: 'sha256', hex: digest.slice(7) } as never)));
  }

  /** What a finish answered: the size, or the error's code and detail (any other error: its stack). */
  async function outcome(p: Promise<number>): Promise<{ size?: number; code?: string; detail?: unknown }> {
    try {
      return { size: await p };
    } catch (err) {
      if (err instanceof RegistryError) return { code: err.code, detail: err.detail };
      return { code: 'thrown', detail: err instanceof Error ? err.stack : String(err) };
    }
  }

  interopIt(
    'a PUT passed on to another node while the first is still finishing (or died before dropping the session): both answer 201, never DIGEST_INVALID',
    TOOLS,
    async () => {
      const repo = 'race/retried-put';
      const blob = randomBytes(PART_MIN + 123);
      const digest = sha256(blob);
      const [a, b] = [node(0), node(1)];
      const id = await a.uploads.start(repo);
      await a.uploads.append(repo, id, Readable.from([blob]));
      // Node A moves the bytes under the digest and links the blob, then stalls before it drops
      // the session, as if it had died there: nginx passes a bodiless PUT whose node dropped the
      // connection on to the next node (PUT is idempotent), here node B.
      const dataPath = paths.uploadData(id);
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let cleaning = false;
      a.before = async (method, path) => {
        if (method === 'delete' && path === paths.uploadDir(id)) {
          cleaning = true;
          await gate;
        }
      };
      const first = outcome(a.uploads.finish(repo, id, digest));
      try {
        await waitFor('node A to have moved the bytes', () => cleaning);
        const two = await outcome(b.uploads.finish(repo, id, digest));
        expect(b.missing.has(dataPath)).toBe(true);
        expect(two.detail).not.toEqual(expect.objectContaining({ actual: EMPTY_SHA256 }));
        expect(two).toEqual({ size: blob.length });
      } finally {
        release();
      }
      expect(await first).toEqual({ size: blob.length });
      a.before = undefined;
      expect(await stored(digest)).toBe(digest);
      expect(await findUpload(a.db, id)).toBeUndefined();
    },
    60_000,
  );

  interopIt(
    'stress: concurrent uploads, every request on the next node, chunks around the 5 MiB part, PUTs passed on twice',
    TOOLS,
    async () => {
      const random = seededRandom(12);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
      // Around the part minimum (a part, one byte short of it, one over), and small ones.
      const sizes = [PART_MIN - 1, PART_MIN, PART_MIN + 1, 1024 * 1024, 4097, 1] as const;
      const problems: string[] = [];
      const unavailable: string[] = [];
      let uploads = 0;
      let turn = 0;
      const stopAt = Date.now() + 20_000;
      const client = async (c: number) => {
        for (let n = 0; Date.now() < stopAt && n < 6; n++) {
          const repo = `stress/c${c}`;
          const chunks = Array.from({ length: 1 + Math.floor(random() * 3) }, () => randomBytes(pick(sizes)));
          const blob = Buffer.concat(chunks);
          const digest = sha256(blob);
          const next = () => node(turn++);
          const first = next();
          const id = await first.uploads.start(repo);
          const kind = random();
          let answers: Awaited<ReturnType<typeof outcome>>[];
          if (kind < 0.25) {
            // Monolithic (POST ?digest=, as the load clients do): one request, the start's node.
            answers = [await outcome(first.uploads.finish(repo, id, digest, Readable.from([blob])))];
          } else {
            // PATCHes, then a PUT with the last chunk or none; some PUTs reach two nodes at once.
            const last = kind < 0.5 ? chunks.pop() : undefined;
            let offset = 0;
            let patched: Awaited<ReturnType<typeof outcome>> = {};
            for (const chunk of chunks) {
              patched = await outcome(
                next().uploads.append(repo, id, Readable.from([chunk]), {
                  range: { start: offset, end: offset + chunk.length - 1 },
                }),
              );
              if (patched.size === undefined) break;
              offset = patched.size;
            }
            const put = () => outcome(next().uploads.finish(repo, id, digest, last && Readable.from([last])));
            answers =
              patched.code !== undefined
                ? [patched]
                : await Promise.all(last === undefined && kind > 0.75 ? [put(), put()] : [put()]);
          }
          uploads++;
          const ok = answers.filter((a) => a.size === blob.length).length;
          const bad = answers.filter((a) => a.size !== blob.length && a.code !== 'BLOB_UPLOAD_UNKNOWN');
          if (answers.some((a) => a.code === 'UNAVAILABLE') && bad.every((a) => a.code === 'UNAVAILABLE')) {
            // The store failed under load (a 503 the client retries with a new upload): the session
            // is dropped as a client's DELETE or the purge would.
            unavailable.push(`${repo} ${id}: ${JSON.stringify(answers)}`);
            await node(0)
              .uploads.cancel(repo, id)
              .catch(() => {});
          } else if (ok === 0 || bad.length > 0) problems.push(`${repo} ${id}: ${JSON.stringify(answers)}`);
          else if ((await stored(digest)) !== digest) problems.push(`${repo} ${digest}: stored bytes differ`);
        }
      };
      await Promise.all(Array.from({ length: 8 }, (_, c) => client(c)));
      expect(problems).toEqual([]);
      expect(uploads).toBeGreaterThanOrEqual(16);
      expect(unavailable.length, unavailable.join('\n')).toBeLessThanOrEqual(uploads / 4);
      // Every session ended: no row, no bytes left under uploads/.
      expect(await node(0).db.selectFrom('uploads').select('id').execute()).toEqual([]);
      await waitFor('the upload area to be empty', async () => {
        try {
          return (await s3().list('/uploads')).length === 0;
        } catch (err) {
          return err instanceof PathNotFoundError;
        }
      });
    },
    60_000,
  );

  interopIt(
    "a multipart object whose segment Swift cannot read (409 BrokenMPU) is 'unavailable' (503), not a bare error",
    TOOLS,
    async () => {
      const driver = s3();
      const writer = await driver.writer('/race/broken');
      writer.stream.end(randomBytes(PART_MIN + 10));
      await writer.commit();
      // Swift's own API (tempauth's test user): the segments of a multipart object are in <bucket>+segments.
      const auth = await fetch(`${store.endpoint}/auth/v1.0`, {
        headers: { 'x-auth-user': 'test:tester', 'x-auth-key': 'testing' },
      });
      const storageUrl = auth.headers.get('x-storage-url') as string;
      const token = { 'x-auth-token': auth.headers.get('x-auth-token') as string };
      const segments = `${storageUrl}/${BUCKET}+segments`;
      const names = (await (await fetch(`${segments}?format=json`, { headers: token })).json()) as { name: string }[];
      const first = names.find((n) => n.name.startsWith('race/broken/'));
      expect(first).toBeDefined();
      expect((await fetch(`${segments}/${first?.name}`, { method: 'DELETE', headers: token })).status).toBe(204);
      const read = await driver.getContent('/race/broken').then(
        () => 'read',
        (err: unknown) => err,
      );
      expect(read).toBeInstanceOf(StorageUnavailableError);
    },
    60_000,
  );
});
