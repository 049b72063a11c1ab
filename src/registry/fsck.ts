import {
  blobRowsAmong,
  blobRowsPage,
  brokenReferences,
  danglingLinks,
  dropBrokenBlob,
  dropLink,
  dropManifest,
  markedForDeletion,
} from '../metadata/fsck.js';
import { queueBlobReview, reviewTime } from '../metadata/gc.js';
import { type Digest, type DigestAlgorithm, newHash, parseDigest } from '../oci/digest.js';
import { PathNotFoundError } from '../storage/driver.js';
import { paths } from '../storage/paths.js';
import type { RegistryContext } from './context.js';

/**
 * `wharf fsck` (zot's scrub): every blob row against its file (present, size, digest of the
 * bytes), every file under /blobs against the rows, every reference (manifest layers, configs and
 * children, repository links) against the rows. With `repair`, rows for missing or wrong files go
 * (with the manifests that need them) and files without a row are queued for GC.
 */

export type FsckProblemKind =
  | 'missing_file'
  | 'size_mismatch'
  | 'digest_mismatch'
  | 'orphan_file'
  | 'broken_reference'
  | 'dangling_link';

export interface FsckProblem {
  kind: FsckProblemKind;
  digest: string;
  repository?: string;
  manifest?: string;
  detail: string;
  /** What --repair did about it. */
  repaired?: string;
}

export interface FsckReport {
  blobsChecked: number;
  filesChecked: number;
  bytesChecked: number;
  problems: FsckProblem[];
  /** Orphan files only: the store is otherwise consistent, and GC removes them. */
  clean: boolean;
  repaired: boolean;
}

const PAGE = 500;

export async function fsck(
  ctx: RegistryContext,
  options: { repair?: boolean; verifyDigests?: boolean; onProgress?: (checked: number) => void } = {},
): Promise<FsckReport> {
  const repair = options.repair ?? false;
  const verify = options.verifyDigests ?? true;
  const report: FsckReport = {
    blobsChecked: 0,
    filesChecked: 0,
    bytesChecked: 0,
    problems: [],
    clean: true,
    repaired: repair,
  };

  // 1. Rows against files.
  const handled = new Set<string>();
  let after: string | undefined;
  for (;;) {
    const rows = await blobRowsPage(ctx.db, PAGE, after);
    if (rows.length === 0) break;
    for (const row of rows) {
      report.blobsChecked++;
      const problem = await checkBlobFile(ctx, row, verify);
      if (problem) {
        // GC may have deleted the row (and then the file) since the page was read.
        if ((await blobRowsAmong(ctx.db, [row.digest])).size === 0) continue;
        if (repair) {
          const dropped = await dropBrokenBlob(ctx.db, row.digest, problem.kind !== 'missing_file');
          problem.repaired = `row removed${dropped.length > 0 ? `, with ${dropped.length} manifest(s) that need it` : ''}`;
        }
        report.problems.push(problem);
        handled.add(row.digest);
      } else {
        report.bytesChecked += row.size;
      }
      options.onProgress?.(report.blobsChecked);
    }
    after = rows[rows.length - 1]?.digest;
  }

  // 2. Files against rows.
  for await (const batch of blobFiles(ctx)) {
    report.filesChecked += batch.length;
    const known = await blobRowsAmong(ctx.db, batch);
    const orphans = batch.filter((d) => !known.has(d) && !handled.has(d));
    const marked = await markedForDeletion(ctx.db, orphans);
    for (const digest of orphans) {
      const problem: FsckProblem = {
        kind: 'orphan_file',
        digest,
        detail: marked.has(digest)
          ? 'file whose row GC deleted; the next GC run removes it'
          : 'file without a blob row',
      };
      if (repair && !marked.has(digest)) {
        await queueBlobReview(ctx.db, digest, reviewTime(0), 'fsck_orphan');
        problem.repaired = 'queued for GC';
      } else if (marked.has(digest)) {
        problem.repaired = 'already being removed by GC';
      }
      report.problems.push(problem);
    }
  }

  // 3. References against rows.
  for (const ref of await brokenReferences(ctx.db)) {
    const problem: FsckProblem = {
      kind: 'broken_reference',
      digest: ref.digest,
      repository: ref.repository,
      manifest: ref.manifest,
      detail: `manifest ${ref.manifest} references ${ref.kind === 'blob' ? 'a blob' : 'a child manifest'} that is not in the store`,
    };
    if (repair) {
      await ctx.db.transaction().execute((tx) => dropManifest(tx, ref.repositoryId, ref.manifest));
      problem.repaired = 'manifest removed';
    }
    report.problems.push(problem);
  }
  for (const link of await danglingLinks(ctx.db)) {
    const problem: FsckProblem = {
      kind: 'dangling_link',
      digest: link.digest,
      repository: link.repository,
      detail: 'repository link to a blob that is not in the store',
    };
    if (repair) {
      await dropLink(ctx.db, link.repositoryId, link.digest);
      problem.repaired = 'link removed';
    }
    report.problems.push(problem);
  }
  report.clean = report.problems.every((p) => p.kind === 'orphan_file');
  return report;
}

async function checkBlobFile(
  ctx: RegistryContext,
  row: { digest: string; size: number },
  verify: boolean,
): Promise<FsckProblem | undefined> {
  const digest = parseDigest(row.digest);
  if (!digest) return { kind: 'digest_mismatch', digest: row.digest, detail: 'the row holds a malformed digest' };
  const path = paths.blob(digest);
  let size: number;
  try {
    size = (await ctx.storage.stat(path)).size;
  } catch (err) {
    if (err instanceof PathNotFoundError)
      return { kind: 'missing_file', digest: row.digest, detail: 'no file for this blob row' };
    throw err;
  }
  if (size !== row.size) {
    return { kind: 'size_mismatch', digest: row.digest, detail: `file has ${size} bytes, row says ${row.size}` };
  }
  if (!verify) return undefined;
  let actual: string;
  try {
    actual = await hashFile(ctx, path, digest);
  } catch (err) {
    // GC may remove the file between the stat and the read (the caller re-checks the row).
    if (err instanceof PathNotFoundError)
      return { kind: 'missing_file', digest: row.digest, detail: 'no file for this blob row' };
    throw err;
  }
  if (actual !== row.digest) {
    return { kind: 'digest_mismatch', digest: row.digest, detail: `file content hashes to ${actual}` };
  }
  return undefined;
}

async function hashFile(ctx: RegistryContext, path: string, digest: Digest): Promise<string> {
  const hash = newHash(digest.algorithm);
  const stream = await ctx.storage.reader(path, 0);
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return `${digest.algorithm}:${hash.digest('hex')}`;
}

/** The digests of the files under /blobs, in batches (the layout of storage/paths.ts). */
async function* blobFiles(ctx: RegistryContext): AsyncGenerator<string[]> {
  const list = (path: string) =>
    ctx.storage.list(path).catch((err: unknown) => {
      if (err instanceof PathNotFoundError) return [] as string[];
      throw err;
    });
  for (const algDir of await list('/blobs')) {
    const algorithm = algDir.slice('/blobs/'.length) as DigestAlgorithm;
    for (const fanDir of await list(algDir)) {
      const batch: string[] = [];
      for (const hexDir of await list(fanDir)) {
        const hex = hexDir.slice(fanDir.length + 1);
        const digest = parseDigest(`${algorithm}:${hex}`);
        if (!digest) continue;
        const hasData = await ctx.storage.stat(paths.blob(digest)).then(
          () => true,
          () => false,
        );
        if (hasData) batch.push(digest.value);
      }
      if (batch.length > 0) yield batch;
    }
  }
}
