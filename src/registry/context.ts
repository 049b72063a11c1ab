import type { MetadataDb } from '../metadata/db.js';
import type { StorageDriver } from '../storage/driver.js';

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
}
