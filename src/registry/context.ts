import type { MetadataDb } from '../metadata/db.js';
import type { StorageDriver } from '../storage/driver.js';
import type { ManifestCache } from './manifest-cache.js';

/** The rules a registry enforces, from the configuration. */
export interface RegistryOptions {
  deleteEnabled: boolean;
  maxManifestSize: number;
  catalogMaxEntries: number;
  tagsMaxEntries: number;
  /** Upload sessions untouched for this long (ms) are purged. */
  uploadPurgeAge: number;
  /** Visibility of repositories created by a push. */
  defaultVisibility: 'public' | 'private';
  /** How long (ms) something that may have become garbage waits before GC reviews it (gc.review_delay). */
  gcReviewDelay?: number;
  /** Other nodes may continue this node's upload sessions (shared storage): save the sha256 state per chunk. */
  sharedUploads?: boolean;
  /** Answer blob GETs with 307 to the store's own URL (storage.redirect), when the driver has one. */
  redirect?: boolean;
}

/** What every registry operation works with: metadata, blob storage and the rules. */
export interface RegistryContext {
  readonly db: MetadataDb;
  readonly storage: StorageDriver;
  readonly options: RegistryOptions;
  /** Told of manifest pushes, pulls and deletes once they are committed. */
  events?: RegistryEvents;
  /**
   * Tag → digest → manifest bytes for manifest GETs. Anything that deletes or moves tags or
   * manifests outside registry/manifests.ts (GC, repository deletes) must call its
   * `forgetManifest` / `forgetTag` / `forgetRepository` after committing (see manifest-cache.ts).
   */
  manifestCache?: ManifestCache;
  /** Storage quotas (hub/quotas.ts): asked before a write adds bytes to a namespace. */
  quota?: StorageQuota;
}

/** What a write would add to a repository: a blob (linked there) or a manifest (stored there). */
export interface QuotaAddition {
  kind: 'blob' | 'manifest';
  digest: string;
  size: number;
}

/**
 * Decides whether a write fits the storage quota of the repository's namespace. Called inside the
 * write's transaction (with that transaction as `db`), so that concurrent pushes cannot both fit
 * in the same room. Returns the refusal's message (the push gets DENIED with it), or undefined.
 */
export interface StorageQuota {
  refusal(db: MetadataDb, repository: string, added: QuotaAddition): Promise<string | undefined>;
}

/** Who caused a registry event and through which request (Distribution's `request` and `actor`). */
export interface EventRequest {
  /** Account name, '' when anonymous. */
  actor: string;
  /** Client address. */
  addr: string;
  /** The Host the client used. */
  host: string;
  method: string;
  userAgent: string;
  /** The request id, as logged. */
  id: string;
}

/** One manifest event: which manifest, in which repository, by what reference. */
export interface ManifestEvent {
  repository: string;
  /** Set when the manifest was pushed, pulled or deleted by tag. */
  tag?: string;
  digest: string;
  mediaType: string;
  size: number;
  request?: EventRequest;
}

/**
 * What the registry tells the layers above it (the hub: webhooks, notifications, pull counts)
 * after a metadata change is committed. Implementations must be quick (a queue insert, a
 * counter) and must not throw: the registry does not wait for any delivery.
 */
export interface RegistryEvents {
  onManifestPushed(event: ManifestEvent): Promise<void>;
  onManifestPulled(event: ManifestEvent): Promise<void>;
  onManifestDeleted(event: ManifestEvent): Promise<void>;
  /** A whole repository was deleted (Distribution's repository `delete` event, target = the name only). */
  onRepositoryDeleted?(event: { repository: string; request?: EventRequest }): Promise<void>;
}
