import { randomUUID } from 'node:crypto';
import { PassThrough, type Readable, Writable } from 'node:stream';
import tar from 'tar-stream';
import { decompress } from '../archive/compression.js';
import { type Digest, newHash, parseDigest } from '../oci/digest.js';
import { PathNotFoundError, type StorageDriver } from '../storage/driver.js';
import { FilesystemDriver } from '../storage/drivers/filesystem.js';
import { paths } from '../storage/paths.js';

function checked(digest: string): Digest {
  const parsed = parseDigest(digest);
  if (!parsed) throw new Error(`invalid digest: ${digest}`);
  return parsed;
}

/** What a layer blob unpacks to: the diff ID and the content size (sum of the tar entries' sizes). */
export interface DiffInfo {
  diffId: string;
  diffSize: number;
}

/** A blob being written: feed `stream`, then `commit` (moves it under its digest) or `cancel`. */
export interface PendingBlob {
  readonly stream: Writable;
  /** Waits for the data, then makes the blob visible under `digest`; resolves the diff info for layers. */
  commit(check?: (info: DiffInfo) => void): Promise<DiffInfo | undefined>;
  cancel(): Promise<void>;
}

/**
 * The engine's content store: compressed layers, configs and manifests by digest, through the
 * same blob driver as the server (`<root>/content/blobs/sha256/hh/hex/data`). Blobs are written
 * under a temp path and moved into place once complete (the caller verifies the digest).
 */
export class ContentStore {
  readonly driver: StorageDriver;

  constructor(dir: string) {
    this.driver = new FilesystemDriver(dir);
  }

  async has(digest: string): Promise<boolean> {
    try {
      const info = await this.driver.stat(paths.blob(checked(digest)));
      return !info.isDir;
    } catch (err) {
      if (err instanceof PathNotFoundError) return false;
      throw err;
    }
  }

  get(digest: string): Promise<Buffer> {
    return this.driver.getContent(paths.blob(checked(digest)));
  }

  reader(digest: string): Promise<Readable> {
    return this.driver.reader(paths.blob(checked(digest)));
  }

  /** Stores small bytes (config, manifest) under their digest, after checking it. */
  async put(digest: string, bytes: Buffer): Promise<void> {
    const parsed = checked(digest);
    const actual = `${parsed.algorithm}:${newHash(parsed.algorithm).update(bytes).digest('hex')}`;
    if (actual !== digest) throw new Error(`content ${actual} stored as ${digest}`);
    await this.driver.putContent(paths.blob(parsed), bytes);
  }

  /**
   * Opens a blob for writing. With `unpack` (`compressed` or `none`), the bytes are also decompressed on
   * the way to compute the diff ID and uncompressed size.
   */
  async create(digest: string, unpack?: 'compressed' | 'none'): Promise<PendingBlob> {
    const target = paths.blob(checked(digest));
    const session = `engine-${randomUUID()}`;
    const temp = paths.uploadData(session);
    const writer = await this.driver.writer(temp);
    let diff: Promise<DiffInfo> | undefined;
    let stream: Writable = writer.stream;
    if (unpack !== undefined) {
      const tee = new PassThrough();
      tee.pipe(writer.stream);
      const hash = newHash('sha256');
      // Docker's DiffSize: the sum of the tar entries' sizes (what unpacking writes), not the tar length.
      let diffSize = 0;
      const entries = tar.extract();
      entries.on('entry', (header, body, next) => {
        diffSize += header.size ?? 0;
        body.on('end', next);
        body.resume();
      });
      const entriesDone = new Promise<void>((resolve, reject) => {
        entries.on('error', reject);
        entries.on('finish', resolve);
      });
      entriesDone.catch(() => {});
      // Hashes the tar (the diff ID) and feeds it to the tar parser, with backpressure.
      const feeder = new Writable({
        write(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          if (entries.write(chunk)) done();
          else entries.once('drain', () => done());
        },
        final(done) {
          entries.end(null);
          entriesDone.then(() => done(), done);
        },
      });
      diff = new Promise<DiffInfo>((resolve, reject) => {
        feeder.on('error', reject);
        feeder.on('finish', () => resolve({ diffId: `sha256:${hash.digest('hex')}`, diffSize }));
        // The codec (gzip, zstd…) is known from the first bytes, which arrive after create() returns.
        // A branch of its own: decompress() reads the first bytes itself, which a shared stream would lose.
        const branch = new PassThrough();
        tee.pipe(branch);
        const source = unpack === 'compressed' ? decompress(branch) : Promise.resolve<Readable>(branch);
        source.then((s) => {
          s.on('error', reject);
          s.pipe(feeder);
        }, reject);
      });
      diff.catch(() => {});
      stream = tee;
    }
    const cleanup = async () => {
      await this.driver.delete(paths.uploadDir(session)).catch(() => {});
    };
    return {
      stream,
      commit: async (check) => {
        try {
          const info = diff ? await diff : undefined;
          await writer.commit();
          if (info && check) check(info);
          await this.driver.move(temp, target);
          await cleanup();
          return info;
        } catch (err) {
          await writer.cancel().catch(() => {});
          await cleanup();
          throw err;
        }
      },
      cancel: async () => {
        stream.destroy();
        await writer.cancel().catch(() => {});
        await cleanup();
      },
    };
  }
}
