// `wharf migrate-storage` (issue 12): moves an embedded registry (SQLite + a data directory's
// blobs) to PostgreSQL and/or an object store. Blobs first, each streamed from the source to
// the target through a sha256 that must match its digest before the target keeps it; then the
// metadata in one transaction. An interrupted run leaves the target's metadata untouched and
// some blobs copied; `resume` skips those (present at their full size: a target object is only
// visible once its digest was verified) and replaces the metadata.
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { copyMetadata, registryRows, type TableCopy } from '../metadata/copy.js';
import type { MetadataDb } from '../metadata/db.js';
import { type Digest, newHash, parseDigest } from '../oci/digest.js';
import { PathNotFoundError, type StorageDriver } from '../storage/driver.js';
import { paths } from '../storage/paths.js';

/** A reason to stop that the operator must act on: said in one sentence, nothing half-done. */
export class MigrationError extends Error {}

export interface MigrateStorageOptions {
  source: { db: MetadataDb; storage: StorageDriver };
  /** Where to; a part left out is the source's own (not copied). */
  target: { db?: MetadataDb; storage?: StorageDriver };
  /** Continue into a non-empty target (an interrupted run): skip blobs present, replace the metadata. */
  resume: boolean;
  /** Blobs copied at a time (default 4). */
  concurrency?: number;
  onBlob?: (progress: BlobProgress) => void;
  onTable?: (copy: TableCopy) => void;
}

export interface BlobProgress {
  done: number;
  total: number;
  /** Bytes copied so far (not counting blobs already there). */
  bytes: number;
  /** Blobs found already in the target (resume). */
  present: number;
}

export interface MigrationReport {
  blobs: BlobProgress;
  tables: TableCopy[];
}

export async function migrateStorage(opts: MigrateStorageOptions): Promise<MigrationReport> {
  const { source, target } = opts;
  if (!opts.resume) await refuseNonEmpty(target);
  const blobs: BlobProgress = { done: 0, total: 0, bytes: 0, present: 0 };
  if (target.storage) await copyBlobs(opts, target.storage, blobs);
  const tables = target.db ? await copyMetadata(source.db, target.db, opts.onTable) : [];
  return { blobs, tables };
}

async function refuseNonEmpty(target: MigrateStorageOptions['target']): Promise<void> {
  const rows = target.db ? await registryRows(target.db) : 0;
  if (rows > 0) {
    throw new MigrationError(
      `the target database is not empty (${rows} accounts, repositories and blobs): ` +
        'use --resume to continue an interrupted migration into it (its metadata is replaced by the source’s)',
    );
  }
  const blobs = target.storage ? await target.storage.list('/blobs').catch(notFoundAsEmpty) : [];
  if (blobs.length > 0) {
    throw new MigrationError(
      'the target storage already holds blobs: use --resume to continue an interrupted migration into it',
    );
  }
}

function notFoundAsEmpty(err: unknown): string[] {
  if (err instanceof PathNotFoundError) return [];
  throw err;
}

async function copyBlobs(opts: MigrateStorageOptions, to: StorageDriver, progress: BlobProgress): Promise<void> {
  const rows = await opts.source.db.selectFrom('blobs').select(['digest', 'size']).orderBy('digest').execute();
  progress.total = rows.length;
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && next < rows.length) {
      const row = rows[next++];
      if (!row) break;
      try {
        const copied = await copyBlob(opts.source.storage, to, row.digest, Number(row.size), opts.resume);
        if (copied) progress.bytes += Number(row.size);
        else progress.present++;
        progress.done++;
        opts.onBlob?.({ ...progress });
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker));
  if (failure !== undefined) throw failure;
}

/** Copies one blob, verifying it while it streams; false when the target already had it (resume). */
async function copyBlob(
  from: StorageDriver,
  to: StorageDriver,
  digestText: string,
  size: number,
  resume: boolean,
): Promise<boolean> {
  const digest = parseDigest(digestText);
  if (!digest) throw new MigrationError(`the source database lists a blob with an invalid digest: ${digestText}`);
  const path = paths.blob(digest);
  if (resume && (await sizeOf(to, path)) === size) return false;
  const reader = await from.reader(path).catch((err: unknown) => {
    if (err instanceof PathNotFoundError) {
      throw new MigrationError(
        `blob ${digestText} is in the source database but missing from its storage (${path}); run \`wharf fsck --repair\` on the source first`,
      );
    }
    throw err;
  });
  // An object store's multipart upload is invisible until completed; a file is written beside
  // and renamed, so that nothing unverified is ever seen under a digest.
  const staging = to.name === 's3' ? undefined : paths.uploadData(`migrate-${digest.hex}`);
  const writer = await to.writer(staging ?? path);
  const { verify, check } = verifier(digest);
  try {
    await pipeline(reader, verify, writer.stream);
    const got = check();
    if (got.hex !== digest.hex || got.bytes !== size) {
      throw new MigrationError(
        `blob ${digestText} is corrupt in the source: its ${got.bytes} bytes (the database says ${size}) hash to ` +
          `${digest.algorithm}:${got.hex}; stopped before copying it (run \`wharf fsck\` on the source)`,
      );
    }
    await writer.commit();
  } catch (err) {
    await writer.cancel().catch(() => undefined);
    if (staging) await to.delete(paths.uploadDir(`migrate-${digest.hex}`)).catch(() => undefined);
    throw err;
  }
  if (staging) {
    await to.move(staging, path);
    await to.delete(paths.uploadDir(`migrate-${digest.hex}`)).catch(() => undefined);
  }
  return true;
}

async function sizeOf(storage: StorageDriver, path: string): Promise<number | undefined> {
  try {
    return (await storage.stat(path)).size;
  } catch (err) {
    if (err instanceof PathNotFoundError) return undefined;
    throw err;
  }
}

/** A pass-through stream that hashes and counts what flows through it. */
function verifier(digest: Digest): { verify: Transform; check: () => { hex: string; bytes: number } } {
  const hash = newHash(digest.algorithm);
  let bytes = 0;
  const verify = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  return { verify, check: () => ({ hex: hash.digest('hex'), bytes }) };
}
