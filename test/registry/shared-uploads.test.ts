// "Any node can continue an upload that another node started" (issue 12), on a real S3 server
// (Swift + s3api). Two registry nodes, each with its own Uploads and its own S3 client on one
// bucket and one metadata database: chunks alternate between them. The node that takes over
// continues from the sha256 state saved with the previous chunk: it never reads back the bytes
// already received, and the blob still gets the right digest.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type MetadataDb, openSqlite } from '../../src/metadata/db.js';
import type { RegistryContext } from '../../src/registry/context.js';
import { Uploads } from '../../src/registry/uploads.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import type { S3Driver } from '../../src/storage/drivers/s3.js';
import { SWIFT_TOOLS, type SwiftStore, startSwift, swiftDriver } from '../support/swift.js';
import { interopDescribe } from '../support/tools.js';

const MiB = 1024 * 1024;

interopDescribe('upload sessions shared by several nodes on S3 (Swift)', SWIFT_TOOLS, () => {
  let store: SwiftStore;
  let db: MetadataDb;

  beforeAll(async () => {
    store = await startSwift();
    db = await openSqlite(':memory:');
    await driver().client.send(new CreateBucketCommand({ Bucket: 'shared-uploads' }));
  }, 120_000);

  afterAll(async () => {
    await db?.destroy();
    await store?.stop();
  });

  function driver(): S3Driver {
    return swiftDriver(store.endpoint, 'shared-uploads');
  }

  /** A node: its own S3 client, counting the reads of upload data (a rebuilt hash would read it all). */
  function node(sharedUploads: boolean): { uploads: Uploads; dataReads: () => number } {
    const s3 = driver();
    let reads = 0;
    const storage: StorageDriver = new Proxy(s3, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (prop === 'reader' && typeof value === 'function') {
          return (path: string, offset?: number) => {
            if (path.startsWith('/uploads/')) reads++;
            return (value as StorageDriver['reader']).call(target, path, offset);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const ctx: RegistryContext = {
      db,
      storage,
      options: {
        deleteEnabled: true,
        maxManifestSize: 4 * MiB,
        catalogMaxEntries: 1000,
        tagsMaxEntries: 1000,
        uploadPurgeAge: 3_600_000,
        defaultVisibility: 'public',
        sharedUploads,
      },
    };
    return { uploads: new Uploads(ctx), dataReads: () => reads };
  }

  async function pushAlternating(sharedUploads: boolean, repo: string) {
    const a = node(sharedUploads);
    const b = node(sharedUploads);
    // Uneven chunks, one over a part (5 MiB), so that parts and server-side copies both happen.
    const chunks = [randomBytes(3 * MiB + 17), randomBytes(6 * MiB + 5), randomBytes(1 * MiB), randomBytes(999)];
    const blob = Buffer.concat(chunks);
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const id = await a.uploads.start(repo);
    let offset = 0;
    for (const [i, chunk] of chunks.entries()) {
      const n = i % 2 === 0 ? a : b;
      offset = await n.uploads.append(repo, id, Readable.from([chunk]), {
        range: { start: offset, end: offset + chunk.length - 1 },
      });
    }
    expect(offset).toBe(blob.length);
    // The last node that did not take the last chunk finishes: it too continues from the saved state.
    const size = await a.uploads.finish(repo, id, digest);
    expect(size).toBe(blob.length);
    const stored = await driver().getContent(`/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`);
    expect(createHash('sha256').update(stored).digest('hex')).toBe(digest.slice(7));
    return { reads: a.dataReads() + b.dataReads() };
  }

  it('chunks alternate between two nodes; each continues from the saved sha256 state without re-reading', async () => {
    const { reads } = await pushAlternating(true, 'ns/shared');
    expect(reads).toBe(0);
  }, 120_000);

  it('without saved state (one-node mode), the taking-over node re-reads what was received (the control)', async () => {
    const { reads } = await pushAlternating(false, 'ns/unshared');
    expect(reads).toBeGreaterThan(0);
  }, 120_000);
});
