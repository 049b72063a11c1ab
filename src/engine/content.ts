import { randomUUID } from 'node:crypto';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { decompress } from '../archive/compression.js';
import { type LayerDiff, scanLayer } from '../archive/scan.js';
import { type Digest, newHash, parseDigest } from '../oci/digest.js';
import { PathNotFoundError, type StorageDriver } from '../storage/driver.js';
import { FilesystemDriver } from '../storage/drivers/filesystem.js';
import { paths } from '../storage/paths.js';

function checked(digest: string): Digest {
  const parsed = parseDigest(digest);
  if (!parsed) throw new Error(`invalid digest: ${digest}`);
  return parsed;
}

/** What a layer blob unpacks to: the diff ID and the content size. */
export type DiffInfo = LayerDiff;

/** A blob once written: its digest (computed when not given up front), length and, for layers, diff info. */
export interface StoredBlob {
  digest: string;
  size: number;
  diff?: DiffInfo;
}

/** A blob being written: feed `stream`, then `commit` (moves it under its digest) or `cancel`. */
export interface PendingBlob {
  readonly stream: Writable;
  /** Waits for the data, then makes the blob visible under its digest; `check` may veto (throw). */
  commit(check?: (blob: StoredBlob) => void): Promise<StoredBlob>;
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
   * Opens a blob for writing. `digest` is the expected digest, which the caller verifies; without
   * it the sha256 of the bytes is computed and becomes the digest. With `unpack` (`compressed` or
   * `none`), the bytes are also decompressed on the way to compute the diff ID and content size.
   */
  async create(digest: string | undefined, unpack?: 'compressed' | 'none'): Promise<PendingBlob> {
    if (digest !== undefined) checked(digest);
    const session = `engine-${randomUUID()}`;
    const temp = paths.uploadData(session);
    const writer = await this.driver.writer(temp);
    let diff: Promise<DiffInfo> | undefined;
    const tee = new PassThrough();
    tee.pipe(writer.stream);
    let size = 0;
    const ownHash = digest === undefined ? newHash('sha256') : undefined;
    tee.on('data', (chunk: Buffer) => {
      size += chunk.length;
      ownHash?.update(chunk);
    });
    if (unpack !== undefined) {
      // The codec (gzip, zstd…) is known from the first bytes, which arrive after create() returns.
      // A branch of its own: decompress() reads the first bytes itself, which a shared stream would lose.
      const branch = new PassThrough();
      tee.pipe(branch);
      const source = unpack === 'compressed' ? decompress(branch) : Promise.resolve<Readable>(branch);
      diff = source.then((s) => scanLayer(s));
      diff.catch(() => {});
    }
    const cleanup = async () => {
      await this.driver.delete(paths.uploadDir(session)).catch(() => {});
    };
    return {
      stream: tee,
      commit: async (check) => {
        try {
          const info = diff ? await diff : undefined;
          await writer.commit();
          const blob: StoredBlob = {
            digest: digest ?? `sha256:${ownHash?.digest('hex')}`,
            size,
            ...(info ? { diff: info } : {}),
          };
          check?.(blob);
          await this.driver.move(temp, paths.blob(checked(blob.digest)));
          await cleanup();
          return blob;
        } catch (err) {
          await writer.cancel().catch(() => {});
          await cleanup();
          throw err;
        }
      },
      cancel: async () => {
        tee.destroy();
        await writer.cancel().catch(() => {});
        await cleanup();
      },
    };
  }
}
