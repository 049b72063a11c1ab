import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { RegistryClientError } from '../../client/errors.js';
import { findBlob, findLinkedBlob, recordAndLinkBlob } from '../../metadata/blobs.js';
import { reviewTime } from '../../metadata/gc.js';
import { getManifestByDigest, getManifestByTag, putManifest } from '../../metadata/manifests.js';
import { findTagCheck, listTagChecks, recordTagCheck } from '../../metadata/proxy.js';
import { ensureRepository } from '../../metadata/repositories.js';
import { parseDigest } from '../../oci/digest.js';
import { parseManifest } from '../../oci/manifest.js';
import { PathNotFoundError } from '../../storage/driver.js';
import { paths } from '../../storage/paths.js';
import type { RegistryContext } from '../context.js';
import { fail } from '../errors.js';
import type { Reference } from '../manifests.js';
import type { Origin, RemoteMap } from './remotes.js';

/** What the cache logs: stale answers and failed fills (pino's shape, without depending on it). */
export interface ProxyLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ProxyOptions {
  /** A cached tag older than this (ms) is rechecked at the remote with a HEAD. */
  tagTtl: number;
}

/** Where the client's copy of a blob being fetched goes; null once the client has gone. */
export interface BlobSink {
  /** Called once, before the first byte, with the blob's size. */
  start(size: number): Writable;
  /** The bytes go nowhere a client sees (a Range request, served from the store after): a failed fill is the request's error. */
  detached?: boolean;
}

/** Most blob sizes remembered from cached manifests. */
const KNOWN_SIZES_MAX = 10_000;

/** How long a finished fill stays in the in-flight map. */
const SETTLED_FILL_MS = 10_000;

/** A cache repository's origin, as the API and UI show it. */
export interface CacheOrigin {
  remote: string;
  /** The remote's `host[:port]`. */
  host: string;
  /** The repository's name at the remote. */
  upstream: string;
  tags: { tag: string; digest: string; lastChecked: string }[];
}

/** A remote failure after which a cached copy is served instead: rate limited, down, or slow. */
function isRemoteUnavailable(err: unknown): boolean {
  if (!(err instanceof RegistryClientError)) return false;
  return err.status === undefined || err.status === 429 || err.status >= 500;
}

/**
 * The pull-through cache: fills the store from a remote on a miss, so that everything after it
 * (serving, search, usage, GC) sees an ordinary repository.
 *
 * Coalescing: one fill per digest at a time (`inflight`). The first request (the leader) streams
 * the remote's bytes to its client while they are written to a temp file and hashed; the others
 * wait for the fill and then read the committed blob — the simplest choice that is obviously
 * correct (no reader ever sees unverified bytes), at the cost of latency for the followers.
 */
export class PullThroughCache {
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly manifestFills = new Map<string, Promise<void>>();
  /** Blob sizes from manifests just cached: a fill then needs no HEAD first (bounded; a miss HEADs). */
  private readonly knownSizes = new Map<string, number>();

  constructor(
    private readonly ctx: RegistryContext,
    readonly remotes: RemoteMap,
    private readonly options: ProxyOptions,
    private readonly log: ProxyLog,
  ) {}

  isReadOnly(name: string): boolean {
    return this.remotes.isReadOnly(name);
  }

  /** Where a cache repository comes from and when each tag was last checked (no credentials: for the API and UI). */
  async originOf(name: string): Promise<CacheOrigin | undefined> {
    const origin = this.remotes.originOf(name);
    if (!origin) return undefined;
    const checks = await listTagChecks(this.ctx.db, name);
    if (checks.length === 0 && !this.remotes.isReadOnly(name)) return undefined; // a pushed repository
    return {
      remote: origin.remote.name,
      host: origin.remote.host,
      upstream: origin.upstream,
      tags: checks.map((c) => ({ tag: c.tag, digest: c.digest, lastChecked: c.checkedAt })),
    };
  }

  /**
   * Makes sure the manifest is in the store, fresh enough, before the ordinary handler reads it.
   * A name that no remote serves is left alone.
   */
  async ensureManifest(name: string, ref: Reference): Promise<void> {
    const origin = this.remotes.originOf(name);
    if (!origin) return;
    const key = `${name}@${ref.kind === 'tag' ? ref.tag : ref.digest}`;
    const running = this.manifestFills.get(key);
    if (running) return running;
    const fill = this.fillManifest(name, origin, ref).finally(() => this.manifestFills.delete(key));
    this.manifestFills.set(key, fill);
    return fill;
  }

  private async fillManifest(name: string, origin: Origin, ref: Reference): Promise<void> {
    const { remote, upstream } = origin;
    if (ref.kind === 'digest') {
      // By digest: immutable, cached for good.
      if (await getManifestByDigest(this.ctx.db, name, ref.digest)) return;
      try {
        await this.storeManifest(name, origin, ref.digest, undefined);
      } catch (err) {
        this.remoteFailed(err, origin, ref.digest);
      }
      return;
    }
    const cached = await getManifestByTag(this.ctx.db, name, ref.tag);
    const check = cached ? await findTagCheck(this.ctx.db, name, ref.tag) : undefined;
    // A tag with no check record was pushed here, not cached: it is the store's own (mirror names).
    if (cached && (!check || Date.now() - Date.parse(check.checkedAt) < this.options.tagTtl)) return;
    try {
      if (cached) {
        const head = await remote.client.headManifest(upstream, ref.tag);
        if (head && head.digest === cached.digest) {
          await recordTagCheck(this.ctx.db, name, ref.tag, remote.name, cached.digest);
          return;
        }
        if (!head) {
          // Gone at the remote: what was cached keeps working (like a mirror that lost its source).
          this.log.warn(
            { repository: name, tag: ref.tag, remote: remote.name },
            'proxy: tag gone at the remote, serving cached copy',
          );
          return;
        }
      }
      await this.storeManifest(name, origin, ref.tag, ref.tag);
    } catch (err) {
      if (cached && isRemoteUnavailable(err)) {
        this.log.warn(
          {
            repository: name,
            tag: ref.tag,
            remote: remote.name,
            status: (err as RegistryClientError).status,
            error: (err as Error).message,
          },
          'proxy: remote unavailable, serving stale cached tag',
        );
        return;
      }
      this.remoteFailed(err, origin, ref.tag);
    }
  }

  /** GETs a manifest from the remote (verified by the client) and stores it, unchecked for blobs (they come lazily). */
  private async storeManifest(name: string, origin: Origin, ref: string, tag: string | undefined): Promise<void> {
    const m = await origin.remote.client.getManifest(origin.upstream, ref);
    const parsed = parseManifest(m.bytes, m.mediaType);
    for (const d of parsed.blobs) {
      if (this.knownSizes.size >= KNOWN_SIZES_MAX) this.knownSizes.clear();
      this.knownSizes.set(d.digest, d.size);
    }
    const repoId = await ensureRepository(this.ctx.db, name, this.ctx.options.defaultVisibility);
    await putManifest(
      this.ctx.db,
      repoId,
      {
        digest: m.digest,
        mediaType: parsed.mediaType,
        content: m.bytes,
        ...(parsed.artifactType ? { artifactType: parsed.artifactType } : {}),
        ...(parsed.subject ? { subjectDigest: parsed.subject.digest } : {}),
        ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
        references: [
          ...parsed.blobs.map((d) => ({ digest: d.digest, kind: 'blob' as const })),
          ...parsed.manifests.map((d) => ({ digest: d.digest, kind: 'manifest' as const })),
        ],
      },
      tag === undefined ? [] : [tag],
      // An untagged fill (by digest) is queued like an untagged push: after gc.review_delay.
      // Marked as the cache's (eviction owns its lifetime, not delete_untagged) unless a user
      // pushed it first (docs/pull-through-cache.md).
      {
        lazyReferences: true,
        reviewAfter: reviewTime(this.ctx.options.gcReviewDelay),
        cachedFrom: origin.remote.name,
      },
    );
    if (tag !== undefined) await recordTagCheck(this.ctx.db, name, tag, origin.remote.name, m.digest);
    this.log.info(
      { repository: name, reference: ref, digest: m.digest, remote: origin.remote.name },
      'proxy: cached manifest',
    );
  }

  /** Turns a remote failure into the /v2 error a client should see. */
  private remoteFailed(err: unknown, origin: Origin, ref: string): never {
    if (!(err instanceof RegistryClientError)) throw err;
    const where = `remote ${origin.remote.name} (${origin.remote.host})`;
    if (err.status === 429) {
      fail('TOOMANYREQUESTS', { message: `${where} is rate limiting Wharf and ${ref} is not cached: ${err.message}` });
    }
    if (err.status === 404) fail('MANIFEST_UNKNOWN', { detail: { reference: ref, remote: origin.remote.name } });
    if (err.status === 401 || err.status === 403) {
      fail('UNAVAILABLE', { status: 502, message: `${where} refused Wharf's credentials: ${err.message}` });
    }
    this.log.warn({ remote: origin.remote.name, reference: ref, error: err.message }, 'proxy: remote failed');
    fail('UNAVAILABLE', { status: 502, message: `${where} is unavailable: ${err.message}` });
  }

  /**
   * Before a blob GET or HEAD: when the repository is a cache and does not have the blob, link it
   * from the store (another cache repository fetched it) or fetch it. Returns true when this
   * request streamed the blob itself (into `sink`); false when the ordinary handler serves it.
   */
  async ensureBlob(name: string, digest: string, sink: BlobSink | undefined): Promise<boolean> {
    const origin = this.remotes.originOf(name);
    if (!origin || !parseDigest(digest)) return false;
    if (await findLinkedBlob(this.ctx.db, name, digest)) return false;
    const known = await findBlob(this.ctx.db, digest);
    if (known && (await this.inStorage(digest))) {
      const repoId = await ensureRepository(this.ctx.db, name, this.ctx.options.defaultVisibility);
      await recordAndLinkBlob(this.ctx.db, repoId, digest, Number(known.size), this.linkOptions());
      return false;
    }
    const running = this.inflight.get(digest);
    if (running) {
      // A follower: wait for the leader's verified commit, then link and serve it normally.
      await running.catch(() => fail('BLOB_UNKNOWN', { message: 'fetch from the remote failed', detail: { digest } }));
      if (await findBlob(this.ctx.db, digest)) {
        await this.linkCommitted(name, digest);
        return false;
      }
      // A settled fill whose blob GC has removed since (evicted soon after its fill): fetch it again.
      if (this.inflight.get(digest) === running) this.inflight.delete(digest);
      return this.ensureBlob(name, digest, sink);
    }
    if (!sink) {
      // A HEAD on a miss: ask the remote, store nothing.
      return false;
    }
    let streamed = false;
    const fill = this.fillBlob(name, origin, digest, (size) => {
      streamed = !sink.detached;
      return sink.start(size);
    });
    this.inflight.set(digest, fill);
    try {
      await fill;
    } catch (err) {
      this.inflight.delete(digest);
      if (streamed) return true; // the client's response was already cut off
      if (err instanceof RegistryClientError) this.remoteFailed(err, origin, digest);
      throw err;
    }
    // Kept a little while after success: a request that looked for the blob just before the
    // commit and for the fill just after it still joins this fill instead of starting another.
    setTimeout(() => this.inflight.get(digest) === fill && this.inflight.delete(digest), SETTLED_FILL_MS).unref();
    return true;
  }

  /** The size of a blob at the remote, for a HEAD on a miss; undefined when the remote does not have it. */
  async remoteBlobSize(name: string, digest: string): Promise<number | undefined> {
    const origin = this.remotes.originOf(name);
    if (!origin) return undefined;
    try {
      return await origin.remote.client.blobExists(origin.upstream, digest);
    } catch (err) {
      return this.remoteFailed(err, origin, digest);
    }
  }

  private async linkCommitted(name: string, digest: string): Promise<void> {
    const known = await findBlob(this.ctx.db, digest);
    if (!known) fail('BLOB_UNKNOWN', { detail: { digest } });
    const repoId = await ensureRepository(this.ctx.db, name, this.ctx.options.defaultVisibility);
    await recordAndLinkBlob(this.ctx.db, repoId, digest, Number(known.size), this.linkOptions());
  }

  /** A fetched or linked blob is reviewed after gc.review_delay, as an uploaded one (not the default day). */
  private linkOptions(): { reviewAfter: string } {
    return { reviewAfter: reviewTime(this.ctx.options.gcReviewDelay) };
  }

  private async inStorage(digest: string): Promise<boolean> {
    const parsed = parseDigest(digest);
    if (!parsed) return false;
    try {
      await this.ctx.storage.stat(paths.blob(parsed));
      return true;
    } catch (err) {
      if (err instanceof PathNotFoundError) return false;
      throw err;
    }
  }

  /**
   * Streams the blob from the remote into a temp file and to the client at once; verifies the
   * digest (the client does), then commits and renames under the digest. Any failure cancels
   * the temp file: nothing half-stored is ever visible.
   */
  private async fillBlob(
    name: string,
    origin: Origin,
    digest: string,
    open: (size: number) => Writable,
  ): Promise<void> {
    const parsed = parseDigest(digest);
    if (!parsed) fail('DIGEST_INVALID', { detail: { digest } });
    // The manifest's size is only a hint: the digest check below decides.
    const size = this.knownSizes.get(digest) ?? (await origin.remote.client.blobExists(origin.upstream, digest));
    if (size === undefined) fail('BLOB_UNKNOWN', { detail: { digest, remote: origin.remote.name } });
    const temp = paths.uploadData(`proxy-${randomUUID()}`);
    const writer = await this.ctx.storage.writer(temp);
    const client = open(size);
    const tee = teeInto(writer.stream, client);
    try {
      // No resume: one GET per blob, and a broken transfer is simply retried by the next pull.
      await origin.remote.client.pullBlob(origin.upstream, digest, size, tee, { retries: 0, end: false });
      await new Promise<void>((resolve, reject) => tee.end((err?: Error | null) => (err ? reject(err) : resolve())));
      // Every byte arrived and matched the digest: the client is done. The commit (fsync, rename,
      // record) goes on meanwhile; other requests for the blob wait for it (inflight).
      client.end();
      await writer.commit();
      await this.ctx.storage.move(temp, paths.blob(parsed));
      await this.ctx.storage.delete(temp.slice(0, temp.lastIndexOf('/'))).catch(() => {});
    } catch (err) {
      await writer.cancel().catch(() => {});
      await this.ctx.storage.delete(temp.slice(0, temp.lastIndexOf('/'))).catch(() => {});
      if (!client.writableEnded) client.destroy(err instanceof Error ? err : new Error(String(err)));
      this.log.warn(
        { repository: name, digest, remote: origin.remote.name, error: (err as Error).message },
        'proxy: blob fetch failed, nothing stored',
      );
      throw err;
    }
    const repoId = await ensureRepository(this.ctx.db, name, this.ctx.options.defaultVisibility);
    await recordAndLinkBlob(this.ctx.db, repoId, digest, size, this.linkOptions());
  }
}

/**
 * A writable that hands each chunk to the store and to the client. The store's backpressure
 * always counts; the client's only while it is connected (a client that leaves does not stop
 * the fill that other requests wait for).
 */
function teeInto(store: Writable, client: Writable): Writable {
  const clientWait = (): Promise<void> =>
    new Promise((resolve) => {
      const done = () => {
        client.off('drain', done);
        client.off('close', done);
        resolve();
      };
      client.on('drain', done);
      client.on('close', done);
    });
  client.on('error', () => {});
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      const waits: Promise<void>[] = [];
      if (!client.destroyed && !client.write(chunk)) waits.push(clientWait());
      if (!store.write(chunk)) waits.push(new Promise((resolve) => store.once('drain', () => resolve())));
      if (waits.length === 0) cb();
      else Promise.all(waits).then(() => cb(), cb);
    },
  });
}
