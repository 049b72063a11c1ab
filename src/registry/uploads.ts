import { randomUUID } from 'node:crypto';
import { finished, type Readable, type Writable } from 'node:stream';
import { findBlob, findLinkedBlob, linkExistingBlob, recordAndLinkBlob } from '../metadata/blobs.js';
import { claimUploadDigest, reviewTime } from '../metadata/gc.js';
import { ensureRepository } from '../metadata/repositories.js';
import {
  createUpload,
  deleteUpload,
  findUpload,
  listStaleUploads,
  touchUpload,
  type UploadRecord,
} from '../metadata/uploads.js';
import type { Digest } from '../oci/digest.js';
import { PathNotFoundError } from '../storage/driver.js';
import { paths } from '../storage/paths.js';
import { removeBlobFile } from './blob-files.js';
import { requireDigest } from './blobs.js';
import type { RegistryContext } from './context.js';
import { fail, isOutOfSpace } from './errors.js';
import { enforceQuota } from './quota.js';
import { nodeHash, type RunningHash, saveableSha256 } from './running-hash.js';

/**
 * Upload sessions. Bytes go to uploads/<id>/data, hashed (sha256) while they stream in.
 * The hash state lives in memory; after a restart, or when another chunk arrived in
 * between, it is rebuilt by reading the data already received. The size of the data
 * file is the truth about how much was received, so a crash mid-PATCH leaves a session
 * that resumes from whatever reached the disk.
 *
 * With `sharedUploads` (several nodes, one object store) the sha256 state is also saved after
 * each chunk, beside the data (uploads/<id>/sha256-state), so that the node that gets the next
 * chunk continues from it instead of re-reading everything received so far. Fewer bytes than
 * that state's offset mean another request (on another node) moved them: such a request never
 * hashes what is left, it waits for that one's outcome (settleVanished).
 */
interface HashState {
  hash: RunningHash;
  offset: number;
}

/** The saved sha256 state of an upload at `offset` bytes. */
interface SavedState {
  offset: number;
  state: string;
}

function hashStatePath(id: string): string {
  return `${paths.uploadDir(id)}/sha256-state`;
}

/**
 * pipeline(body, dest), except that a failing `dest` (a full disk) leaves `body`, the request,
 * alive: it is unpiped and drained (after `stop`), so that the client still gets the answer
 * that says why, instead of a reset connection. A failing `body` (the client went away)
 * destroys `dest`.
 */
function pipeInto(body: Readable, dest: Writable, stop: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err?: Error | null): void => {
      if (settled) return;
      settled = true;
      cleanBody();
      cleanDest();
      if (err) reject(err);
      else resolve();
    };
    const cleanDest = finished(dest, (err) => {
      if (err && !settled) {
        body.unpipe(dest);
        stop();
        body.resume();
      }
      settle(err);
    });
    const cleanBody = finished(body, (err) => {
      if (err) {
        dest.destroy(err);
        settle(err);
      }
    });
    body.pipe(dest);
  });
}
/** A blob deletion mark older than this belongs to a GC that died: an upload finishes it itself. */
const STALE_DELETION_MS = 30_000;

/**
 * How long a request whose session lost its bytes waits for the request that took them to link
 * the blob or drop the session (that one only has its transaction and clean-up left to do).
 */
const VANISHED_WAIT_MS = 30_000;

/** Thrown inside finish: another request finished the session under the same digest. */
class FinishedElsewhere extends Error {
  constructor(readonly size: number) {
    super('the upload was finished by another request');
  }
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class Uploads {
  private readonly hashes = new Map<string, HashState>();
  private readonly busy = new Set<string>();
  /** Bytes received by all uploads since start (for metrics). */
  bytesReceived = 0;

  constructor(private readonly ctx: RegistryContext) {}

  /** Sessions currently receiving bytes (for metrics). */
  get active(): number {
    return this.busy.size;
  }

  async start(repository: string): Promise<string> {
    const id = randomUUID();
    await createUpload(this.ctx.db, id, repository);
    return id;
  }

  /** The session, checked to belong to `repository`; BLOB_UPLOAD_UNKNOWN otherwise. */
  async get(repository: string, id: string): Promise<UploadRecord> {
    const upload = UUID_PATTERN.test(id) ? await findUpload(this.ctx.db, id) : undefined;
    if (!upload || upload.repository !== repository) fail('BLOB_UPLOAD_UNKNOWN', { detail: { uuid: id } });
    return upload;
  }

  /** Bytes received so far. */
  async size(id: string): Promise<number> {
    try {
      return (await this.ctx.storage.stat(paths.uploadData(id))).size;
    } catch (err) {
      if (err instanceof PathNotFoundError) return 0;
      throw err;
    }
  }

  /**
   * Appends a chunk. With `range`, its start must be the current size (416 otherwise) and
   * its length must match `length` when both are given. Returns the new size.
   */
  async append(
    repository: string,
    id: string,
    body: Readable,
    opts: { range?: { start: number; end: number }; length?: number; durable?: boolean; digest?: string } = {},
  ): Promise<number> {
    await this.get(repository, id);
    return this.exclusive(id, async () => {
      const current = await this.size(id);
      // Appending to what is left would store a blob with a hole (or just this chunk).
      const received = await this.received(id, current);
      if (received.lost) await this.settleVanished(repository, id, opts.digest);
      const { range, length } = opts;
      if (range) {
        if (range.start !== current || range.end < range.start) {
          fail('RANGE_INVALID', { detail: { expectedStart: current, range: `${range.start}-${range.end}` } });
        }
        if (length !== undefined && length !== range.end - range.start + 1) {
          fail('SIZE_INVALID', { message: 'Content-Length does not match Content-Range' });
        }
      }
      const state = await this.hashState(id, current, received.saved);
      const writer = await this.ctx.storage.writer(paths.uploadData(id), { append: true });
      try {
        // A second 'data' listener, added in the same tick as the pipe: it sees every chunk the
        // file gets, without the cost of a Transform stage in the hot path.
        const onData = (chunk: Buffer) => {
          state.hash.update(chunk);
          this.bytesReceived += chunk.length;
        };
        const piping = pipeInto(body, writer.stream, () => body.off('data', onData));
        body.on('data', onData);
        await piping;
        if (opts.durable) await writer.commit();
        else await writer.close();
      } catch (err) {
        // Some hashed bytes may not have reached the file: rebuild the hash next time.
        this.hashes.delete(id);
        await writer.close().catch(() => {});
        // Out of space: the partial bytes would keep the disk full until the session expires.
        // Release them now; the client starts the blob over.
        if (isOutOfSpace(err)) await this.discard(id).catch(() => {});
        // The bytes so far went while this chunk was being added: another request took them.
        if (err instanceof PathNotFoundError) await this.settleVanished(repository, id, opts.digest);
        throw err;
      }
      state.offset = writer.size();
      await this.saveHashState(id, state);
      await touchUpload(this.ctx.db, id);
      return state.offset;
    });
  }

  /**
   * Completes the session: appends `body` if any, verifies the digest, moves the bytes under
   * the digest and links the blob into the repository. On a mismatch the session is dropped.
   */
  async finish(repository: string, id: string, digestValue: string | undefined, body?: Readable): Promise<number> {
    const digest = requireDigest(digestValue);
    try {
      return await this.finishSession(repository, id, digest, body);
    } catch (err) {
      // Another request (on another node) finished this session under the same digest meanwhile:
      // a PUT passed on again by the balancer gets the answer the first attempt got.
      if (err instanceof FinishedElsewhere) return err.size;
      throw err;
    }
  }

  private async finishSession(repository: string, id: string, digest: Digest, body?: Readable): Promise<number> {
    if (body) await this.append(repository, id, body, { durable: true, digest: digest.value });
    else {
      await this.get(repository, id);
      // Make sure bytes from earlier chunks are on stable storage before the rename.
      const writer = await this.ctx.storage.writer(paths.uploadData(id), { append: true });
      await writer.commit();
    }
    return this.exclusive(id, async () => {
      const size = await this.size(id);
      // Fewer bytes than the session received: never the digest of what is left (the empty
      // sha256 when another node has just moved them under the digest).
      const received = await this.received(id, size);
      if (received.lost) await this.settleVanished(repository, id, digest.value);
      const actual = await this.digestOf(id, digest, size, received.saved);
      if (actual !== digest.value) {
        await this.discard(id);
        fail('DIGEST_INVALID', { detail: { expected: digest.value, actual } });
      }
      // The empty blob: a session that never received a byte has no data object on S3 (only a
      // filesystem creates an empty file); an empty one is what moves under the digest.
      if (size === 0) await this.ctx.storage.putContent(paths.uploadData(id), Buffer.alloc(0));
      const added = { kind: 'blob' as const, digest: digest.value, size };
      try {
        await enforceQuota(this.ctx, this.ctx.db, repository, added);
        // The repository first: a push refused by the namespace's plan leaves no blob behind.
        const repoId = await ensureRepository(this.ctx.db, repository, this.ctx.options.defaultVisibility);
        // Claimed before the move: GC leaves a digest alone while an upload is finishing under it,
        // and an upload waits while GC removes that digest's file (else the two could cross).
        await this.claimDigest(id, digest.value);
        // The quota is checked again, and the file moved under its digest, inside the transaction
        // that links it: two uploads cannot both take the last room, and a refused one stores nothing.
        await recordAndLinkBlob(this.ctx.db, repoId, digest.value, size, {
          reviewAfter: reviewTime(this.ctx.options.gcReviewDelay),
          prepare: async (tx) => {
            await enforceQuota(this.ctx, tx, repository, added);
            await this.ctx.storage.move(paths.uploadData(id), paths.blob(digest));
          },
        });
      } catch (err) {
        // The bytes went while this request verified them: another request is finishing the session.
        if (err instanceof PathNotFoundError) await this.settleVanished(repository, id, digest.value);
        // The database is full: the blob's bytes go, unless another upload has recorded it.
        if (isOutOfSpace(err) && !(await findBlob(this.ctx.db, digest.value).catch(() => true))) {
          await this.ctx.storage.delete(paths.blob(digest)).catch(() => {});
        }
        // A refused or failed upload's bytes are released at once rather than waiting for the purge.
        await this.discard(id).catch(() => {});
        throw err;
      }
      await this.discard(id);
      return size;
    });
  }

  /** Links a blob from repository `from` into `repository` when `from` has it; returns whether it did. */
  async mount(repository: string, digestValue: string, from: string): Promise<boolean> {
    requireDigest(digestValue);
    const blob = await findLinkedBlob(this.ctx.db, from, digestValue);
    if (!blob) return false;
    // Over the quota: no mount; the client uploads instead and gets the quota's refusal then.
    const added = { kind: 'blob' as const, digest: blob.digest, size: Number(blob.size) };
    if (this.ctx.quota && (await this.ctx.quota.refusal(this.ctx.db, repository, added)) !== undefined) return false;
    const repoId = await ensureRepository(this.ctx.db, repository, this.ctx.options.defaultVisibility);
    return linkExistingBlob(this.ctx.db, repoId, blob.digest, {
      reviewAfter: reviewTime(this.ctx.options.gcReviewDelay),
      guard: (tx) => enforceQuota(this.ctx, tx, repository, added),
    });
  }

  async cancel(repository: string, id: string): Promise<void> {
    await this.get(repository, id);
    await this.exclusive(id, () => this.discard(id));
  }

  /** Drops sessions untouched for longer than the configured age; returns how many. */
  async purge(): Promise<number> {
    return purgeStaleUploads(
      this.ctx,
      (id) => this.busy.has(id),
      (id) => this.hashes.delete(id),
    );
  }

  /** Whether a request is streaming into the session now (GC leaves it alone). */
  isBusy(id: string): boolean {
    return this.busy.has(id);
  }

  private async discard(id: string): Promise<void> {
    this.hashes.delete(id);
    await discardUpload(this.ctx, id);
  }

  /** Waits while GC removes this digest's file; takes over a removal whose GC died. */
  private async claimDigest(id: string, digest: string): Promise<void> {
    for (;;) {
      const deleting = await claimUploadDigest(this.ctx.db, id, digest);
      if (!deleting) return;
      if (Date.now() - Date.parse(deleting.deletionStartedAt) > STALE_DELETION_MS) {
        await removeBlobFile(this.ctx, digest, deleting.deletionStartedAt);
      } else {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  /**
   * Whether the store holds fewer bytes (`size`) than this session is known to have received (`lost`): the
   * hash state kept after the last chunk, in this process or saved beside the data by any node.
   * The data only grows while the session lives, so fewer bytes mean that another request moved
   * or removed them (a finish or cancel on another node), or that the store answered wrongly.
   */
  private async received(id: string, size: number): Promise<{ lost: boolean; saved?: SavedState | null }> {
    const known = this.hashes.get(id);
    if (known && known.offset >= size) return { lost: known.offset > size };
    // Read once here; hashState continues from it (null: looked, none saved).
    const saved = (await this.savedHashState(id)) ?? null;
    return { lost: saved !== null && saved.offset > size, saved };
  }

  /**
   * Settles a request whose session lost its bytes under it, without touching the session (the
   * request that took them owns it). Throws FinishedElsewhere as soon as the blob `digest` is in
   * the repository (the other request linked it; also when that node then died before dropping
   * the session, which the purge removes later); BLOB_UPLOAD_UNKNOWN once the session is gone
   * without it; UNAVAILABLE when the session stays (a finish that died between moving the bytes
   * and linking them, or the store lost them): the client may retry, nothing is discarded.
   */
  private async settleVanished(repository: string, id: string, digest?: string): Promise<never> {
    this.hashes.delete(id);
    const deadline = Date.now() + VANISHED_WAIT_MS;
    for (;;) {
      const linked = digest === undefined ? undefined : await findLinkedBlob(this.ctx.db, repository, digest);
      if (linked) throw new FinishedElsewhere(Number(linked.size));
      if ((await findUpload(this.ctx.db, id)) === undefined) {
        // The other request may have linked the blob just before it dropped the session.
        const late = digest === undefined ? undefined : await findLinkedBlob(this.ctx.db, repository, digest);
        if (late) throw new FinishedElsewhere(Number(late.size));
        fail('BLOB_UPLOAD_UNKNOWN', { detail: { uuid: id } });
      }
      if (Date.now() > deadline) {
        fail('UNAVAILABLE', { message: "the upload's received bytes are missing from blob storage; try again later" });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** One request at a time per session: a second concurrent one is refused, not interleaved. */
  private async exclusive<T>(id: string, work: () => Promise<T>): Promise<T> {
    if (this.busy.has(id)) fail('BLOB_UPLOAD_INVALID', { message: 'upload is busy with another request' });
    this.busy.add(id);
    try {
      return await work();
    } finally {
      this.busy.delete(id);
    }
  }

  /**
   * The sha256 state at `offset`: from memory, else the saved state (shared uploads; `read` when
   * the caller has read it already, null for none), else rebuilt from the stored bytes.
   */
  private async hashState(id: string, offset: number, read?: SavedState | null): Promise<HashState> {
    const known = this.hashes.get(id);
    if (known && known.offset === offset) return known;
    const saved = read === undefined ? await this.savedHashState(id) : read;
    const hash =
      saved && saved.offset === offset
        ? await saveableSha256(Buffer.from(saved.state, 'base64'))
        : await this.hashStored(id, 'sha256', offset);
    const state: HashState = { hash, offset };
    this.hashes.set(id, state);
    return state;
  }

  private async savedHashState(id: string): Promise<SavedState | undefined> {
    if (!this.ctx.options.sharedUploads) return undefined;
    try {
      return JSON.parse((await this.ctx.storage.getContent(hashStatePath(id))).toString()) as SavedState;
    } catch (err) {
      if (err instanceof PathNotFoundError || err instanceof SyntaxError) return undefined;
      throw err;
    }
  }

  private async saveHashState(id: string, state: HashState): Promise<void> {
    const saved = state.hash.save();
    if (!saved) return;
    const record: SavedState = { offset: state.offset, state: Buffer.from(saved).toString('base64') };
    await this.ctx.storage.putContent(hashStatePath(id), Buffer.from(JSON.stringify(record)));
  }

  private async hashStored(id: string, algorithm: Digest['algorithm'], size: number): Promise<RunningHash> {
    const hash =
      algorithm === 'sha256' && this.ctx.options.sharedUploads ? await saveableSha256() : nodeHash(algorithm);
    if (size === 0) return hash;
    const stream = await this.ctx.storage.reader(paths.uploadData(id), 0);
    for await (const chunk of stream) hash.update(chunk as Buffer);
    return hash;
  }

  private async digestOf(id: string, digest: Digest, size: number, saved?: SavedState | null): Promise<string> {
    if (digest.algorithm === 'sha256') {
      const state = await this.hashState(id, size, saved);
      this.hashes.delete(id);
      return `sha256:${state.hash.digestHex()}`;
    }
    return `${digest.algorithm}:${(await this.hashStored(id, digest.algorithm, size)).digestHex()}`;
  }
}

/** Deletes an upload session's bytes, then its row. */
async function discardUpload(ctx: RegistryContext, id: string): Promise<void> {
  await ctx.storage.delete(paths.uploadDir(id)).catch((err: unknown) => {
    if (!(err instanceof PathNotFoundError)) throw err;
  });
  await deleteUpload(ctx.db, id);
}

/**
 * Drops upload sessions untouched for longer than `storage.upload_purge_age`, except those `busy`
 * says are receiving bytes; returns how many were stale. Part of every GC run; a dry run only counts.
 */
export async function purgeStaleUploads(
  ctx: RegistryContext,
  busy: (id: string) => boolean = () => false,
  forget: (id: string) => void = () => {},
  dryRun = false,
): Promise<number> {
  const before = new Date(Date.now() - ctx.options.uploadPurgeAge).toISOString();
  const stale = (await listStaleUploads(ctx.db, before)).filter((id) => !busy(id));
  if (!dryRun) {
    for (const id of stale) {
      forget(id);
      await discardUpload(ctx, id);
    }
  }
  return stale.length + (await purgeStaleProxyFills(ctx, dryRun));
}

/**
 * How long a pull-through fill's temp dir (`uploads/proxy-<uuid>/`) may sit untouched before it
 * counts as a crash's leftover: a live fill writes every few seconds or fails on the remote's
 * body timeout (15 s), so an hour is far on the safe side, also for other nodes' fills.
 */
export const PROXY_FILL_STALE_MS = 3_600_000;

/** Removes fill temp dirs a crash left (they have no upload session row); returns how many. */
async function purgeStaleProxyFills(ctx: RegistryContext, dryRun: boolean): Promise<number> {
  let dirs: string[];
  try {
    dirs = (await ctx.storage.list('/uploads')).filter((d) => d.slice(d.lastIndexOf('/') + 1).startsWith('proxy-'));
  } catch (err) {
    if (err instanceof PathNotFoundError) return 0;
    throw err;
  }
  const before = Date.now() - PROXY_FILL_STALE_MS;
  let purged = 0;
  for (const dir of dirs) {
    // The data's last write; the dir's own time when the data never got its name (a crash mid-write).
    const info = await ctx.storage
      .stat(`${dir}/data`)
      .catch(() => ctx.storage.stat(dir))
      .catch(() => undefined);
    if (info === undefined || info.modTime.getTime() > before) continue;
    purged++;
    if (!dryRun) await ctx.storage.delete(dir);
  }
  return purged;
}
