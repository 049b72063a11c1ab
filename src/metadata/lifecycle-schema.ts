import type { Generated } from 'kysely';

/** Tables of the storage lifecycle (0006_lifecycle): retention policies. */
export interface LifecycleTables {
  retention_policies: RetentionPoliciesTable;
}

/**
 * A retention policy of one repository (repository_id) or of a namespace (namespace_id, for its
 * repositories without a policy of their own). Patterns are JSON arrays of globs (`*`, `?`).
 */
export interface RetentionPoliciesTable {
  id: Generated<number>;
  repository_id: number | null;
  namespace_id: number | null;
  keep_last: number | null;
  keep_patterns: string;
  protect_patterns: string;
  remove_unpulled_days: number | null;
  updated_at: string;
  last_run_at: string | null;
}
