import type { Generated } from 'kysely';
import type { GcTables } from './gc-schema.js';
import type { HubRefreshTokenColumns, HubRepositoryColumns, HubTables, HubTagColumns } from './hub-schema.js';
import type { LifecycleTables } from './lifecycle-schema.js';
import type { LoginFailureTables } from './login-failure-migrations.js';
import type { ProxyTables } from './proxy-migrations.js';
import type { SigningKeyTables } from './signing-key-migrations.js';

/** Tables of the metadata database. Timestamps are ISO-8601 strings (same on SQLite and PostgreSQL). */
export interface Database
  extends HubTables,
    LifecycleTables,
    GcTables,
    ProxyTables,
    SigningKeyTables,
    LoginFailureTables {
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
  uploads: UploadsTable;
  accounts: AccountsTable;
  repository_grants: RepositoryGrantsTable;
  refresh_tokens: RefreshTokensTable;
}

export interface RepositoriesTable extends HubRepositoryColumns {
  id: Generated<number>;
  name: string;
  created_at: string;
  visibility: Generated<Visibility>;
}

export type Visibility = 'public' | 'private';

/** Blobs present in storage under their digest, verified on the way in. */
export interface BlobsTable {
  digest: string;
  size: number;
  created_at: string;
}

/** A blob is readable in a repository only through a link (pushed or mounted there). */
export interface RepositoryBlobsTable {
  repository_id: number;
  digest: string;
  created_at: string;
}

/** Manifests are small (bounded by limits.max_manifest_size) and kept whole, exactly as pushed. */
export interface ManifestsTable {
  repository_id: number;
  digest: string;
  media_type: string;
  size: number;
  content: Uint8Array;
  artifact_type: string | null;
  subject_digest: string | null;
  /** JSON of the manifest's annotations, for the referrers API. */
  annotations: string | null;
  created_at: string;
}

/** What a manifest points at: blobs (config, layers) and child manifests. Kept for garbage collection. */
export interface ManifestReferencesTable {
  repository_id: number;
  manifest_digest: string;
  child_digest: string;
  kind: 'blob' | 'manifest';
}

export interface TagsTable extends HubTagColumns {
  repository_id: number;
  name: string;
  manifest_digest: string;
  updated_at: string;
}

/** Upload sessions; their bytes are in storage under uploads/<id>/data. */
export interface UploadsTable {
  id: string;
  repository: string;
  started_at: string;
  updated_at: string;
  /** Set while the session is being finished under this digest (GC leaves the digest alone). */
  finishing_digest?: string | null;
}

export interface AccountsTable {
  id: Generated<number>;
  username: string;
  /** argon2id PHC string. */
  password_hash: string;
  is_admin: Generated<number>;
  disabled: Generated<number>;
  created_at: string;
}

/** Access to a repository given to an account that does not own its namespace. */
export interface RepositoryGrantsTable {
  repository_id: number;
  account_id: number;
  /** Comma-separated actions: pull, push, delete. */
  actions: string;
}

/** Refresh tokens (docker login's identity tokens), kept by their sha256 only. */
export interface RefreshTokensTable extends Partial<HubRefreshTokenColumns> {
  id: string;
  account_id: number;
  client_id: string;
  created_at: string;
  expires_at: string;
}
