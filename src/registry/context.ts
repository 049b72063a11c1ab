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
}

/** What every registry operation works with: metadata, blob storage and the rules. */
export interface RegistryContext {
  readonly db: MetadataDb;
  readonly storage: StorageDriver;
  readonly options: RegistryOptions;
}
