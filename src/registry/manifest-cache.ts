import type { ManifestRecord } from '../metadata/manifests.js';

/**
 * A small, bounded, in-process cache of what a manifest GET resolves: tag → digest, and
 * digest → manifest bytes, per repository. Manifest GET by tag is the hottest path of a
 * registry (every pull starts with it); with the cache, a hit answers without touching SQLite.
 *
 * Invalidation API — whoever changes tags or manifests outside `registry/manifests.ts` calls it
 * after the change is committed (garbage collection, repository deletes):
 *   - `forgetTag(repo, tag)`: the tag was moved or deleted.
 *   - `forgetManifest(repo, digest)`: the manifest was deleted (drops the tags that pointed at it).
 *   - `forgetRepository(repo)`: the repository went away (everything under it).
 * Manifest PUT and DELETE in `registry/manifests.ts` already call these.
 *
 * Every entry also expires after `ttlMs` (1 s by default): changes made by another process
 * (the `wharf` CLI on the same data directory, other nodes later) are seen within that time,
 * so the cache stays a rebuildable optimisation and never the source of truth (DESIGN.md).
 *
 * A read that started before a change must not put the old answer back after the change's
 * `forget…`: fills carry the `generation` seen before the database read, and are dropped when
 * any forget happened in between.
 *
 * `load` reads each missing key once: when an entry expires under load, the requests that miss
 * at that moment share one database read instead of each sending its own (on PostgreSQL a read
 * is a round trip; 32 of them per second per hot tag queue behind the node's pool).
 */
export interface ManifestCacheOptions {
  /** Most manifests kept (least recently filled go first). */
  maxEntries?: number;
  /** Most manifest bytes kept in all. */
  maxBytes?: number;
  /** Larger manifests are never cached. */
  maxEntryBytes?: number;
  /** How long an entry is trusted, ms. */
  ttlMs?: number;
}

interface TagEntry {
  digest: string;
  expires: number;
}

interface ManifestEntry {
  record: ManifestRecord;
  expires: number;
}

interface Flight {
  generation: number;
  promise: Promise<ManifestRecord | undefined>;
}

// NUL cannot appear in repository names, tags or digests.
const key = (repository: string, part: string): string => `${repository}\u0000${part}`;

export class ManifestCache {
  private readonly tags = new Map<string, TagEntry>();
  private readonly manifests = new Map<string, ManifestEntry>();
  /** Database reads under way, by repository and tag or digest. */
  private readonly flights = new Map<string, Flight>();
  /** One-component names seen to exist (repository → expiry): their reads need no alias lookup. */
  private readonly existing = new Map<string, number>();
  private bytes = 0;
  private gen = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly maxEntryBytes: number;
  private readonly ttlMs: number;

  constructor(options: ManifestCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 1000;
    this.maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
    this.maxEntryBytes = options.maxEntryBytes ?? 256 * 1024;
    this.ttlMs = options.ttlMs ?? 1000;
  }

  /** Changes with every forget; pass the value read before a database lookup to `remember`. */
  get generation(): number {
    return this.gen;
  }

  /** The digest a tag points at, if known and fresh. */
  tag(repository: string, tag: string): string | undefined {
    const k = key(repository, tag);
    const e = this.tags.get(k);
    if (e === undefined) return undefined;
    if (e.expires <= Date.now()) {
      this.tags.delete(k);
      return undefined;
    }
    return e.digest;
  }

  /** A manifest of the repository, if known and fresh. */
  manifest(repository: string, digest: string): ManifestRecord | undefined {
    const k = key(repository, digest);
    const e = this.manifests.get(k);
    if (e === undefined) return undefined;
    if (e.expires <= Date.now()) {
      this.dropManifest(k, e);
      return undefined;
    }
    return e.record;
  }

  /** Stores what a lookup found, unless something was forgotten since `generation` was read. */
  remember(repository: string, tag: string | undefined, record: ManifestRecord, generation: number): void {
    if (generation !== this.gen || record.size > this.maxEntryBytes) return;
    const expires = Date.now() + this.ttlMs;
    if (tag !== undefined) {
      const k = key(repository, tag);
      this.tags.delete(k); // re-inserted last: Map order is eviction order
      this.tags.set(k, { digest: record.digest, expires });
      if (this.tags.size > this.maxEntries) this.evictOldestTag();
    }
    const k = key(repository, record.digest);
    const old = this.manifests.get(k);
    if (old !== undefined) this.dropManifest(k, old);
    this.manifests.set(k, { record, expires });
    this.bytes += record.size;
    while (this.manifests.size > this.maxEntries || this.bytes > this.maxBytes) {
      const first = this.manifests.entries().next();
      if (first.done) break;
      this.dropManifest(first.value[0], first.value[1]);
    }
  }

  /**
   * A cache miss: `read` from the database and remember the answer. Callers that miss the same
   * tag or digest while a read runs share it, unless something was forgotten since it began
   * (they could be asking because of that change: they read again).
   */
  load(
    repository: string,
    tag: string | undefined,
    reference: string,
    read: () => Promise<ManifestRecord | undefined>,
  ): Promise<ManifestRecord | undefined> {
    const k = key(repository, reference);
    const generation = this.gen;
    const running = this.flights.get(k);
    if (running !== undefined && running.generation === generation) return running.promise;
    const promise = read()
      .then((found) => {
        if (found) this.remember(repository, tag, found, generation);
        return found;
      })
      .finally(() => {
        if (this.flights.get(k)?.promise === promise) this.flights.delete(k);
      });
    this.flights.set(k, { generation, promise });
    return promise;
  }

  /**
   * Whether `repository` was seen to exist within the expiry. Only existence is kept, never an
   * alias (`x` read as `library/x`): a repository appears by a push that does not pass here, but
   * goes away only through `forgetRepository`.
   */
  exists(repository: string): boolean {
    const expires = this.existing.get(repository);
    if (expires === undefined) return false;
    if (expires > Date.now()) return true;
    this.existing.delete(repository);
    return false;
  }

  /** `repository` exists (a lookup begun at `generation` found it). */
  rememberExists(repository: string, generation: number): void {
    if (generation !== this.gen) return;
    this.existing.delete(repository); // re-inserted last: Map order is eviction order
    this.existing.set(repository, Date.now() + this.ttlMs);
    if (this.existing.size > this.maxEntries) {
      const first = this.existing.keys().next();
      if (!first.done) this.existing.delete(first.value);
    }
  }

  /** The tag was moved or deleted. */
  forgetTag(repository: string, tag: string): void {
    this.gen++;
    this.tags.delete(key(repository, tag));
  }

  /** The manifest was deleted: it and every cached tag pointing at it. */
  forgetManifest(repository: string, digest: string): void {
    this.gen++;
    const k = key(repository, digest);
    const e = this.manifests.get(k);
    if (e !== undefined) this.dropManifest(k, e);
    const prefix = key(repository, '');
    for (const [tk, t] of this.tags) if (t.digest === digest && tk.startsWith(prefix)) this.tags.delete(tk);
  }

  /** The repository was deleted: everything cached under its name. */
  forgetRepository(repository: string): void {
    this.gen++;
    this.existing.delete(repository);
    const prefix = key(repository, '');
    for (const tk of this.tags.keys()) if (tk.startsWith(prefix)) this.tags.delete(tk);
    for (const [mk, e] of this.manifests) if (mk.startsWith(prefix)) this.dropManifest(mk, e);
  }

  /** Entries held (tags, manifests, bytes), for tests and metrics. */
  get size(): { tags: number; manifests: number; bytes: number } {
    return { tags: this.tags.size, manifests: this.manifests.size, bytes: this.bytes };
  }

  private dropManifest(k: string, e: ManifestEntry): void {
    this.manifests.delete(k);
    this.bytes -= e.record.size;
  }

  private evictOldestTag(): void {
    const first = this.tags.keys().next();
    if (!first.done) this.tags.delete(first.value);
  }
}
