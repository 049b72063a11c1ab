import type { Generated } from 'kysely';

/**
 * The hub's tables (issue 6): namespaces (users and organizations) with plans, organization
 * members and teams, collaborators, stars, access tokens, webhooks with their durable delivery
 * queue, and the audit log. Repositories gain hub columns (see HubRepositoryColumns).
 */
export interface HubTables {
  plans: PlansTable;
  namespaces: NamespacesTable;
  org_members: OrgMembersTable;
  teams: TeamsTable;
  team_members: TeamMembersTable;
  team_permissions: TeamPermissionsTable;
  collaborators: CollaboratorsTable;
  stars: StarsTable;
  access_tokens: AccessTokensTable;
  webhooks: WebhooksTable;
  deliveries: DeliveriesTable;
  delivery_attempts: DeliveryAttemptsTable;
  audit_log: AuditLogTable;
  hub_sessions: HubSessionsTable;
}

/** Read < write < admin, on one repository (teams and collaborators). */
export type Permission = 'read' | 'write' | 'admin';

/** How many private repositories a namespace may hold. */
export interface PlansTable {
  id: Generated<number>;
  /** `free` exists from the start (1 private repository, as Docker Hub's free tier). */
  name: string;
  private_repos: number;
  created_at: string;
  /** Storage quota of each namespace on the plan, in bytes (0006_lifecycle); null: none. */
  quota_bytes: Generated<number | null>;
}

/** A user's or an organization's namespace: the first path component of its repositories. */
export interface NamespacesTable {
  id: Generated<number>;
  name: string;
  kind: 'user' | 'org';
  /** The account, for a user namespace; null for an organization. */
  account_id: number | null;
  plan_id: number;
  /** Visibility of repositories created by a push into this namespace. */
  default_visibility: 'public' | 'private';
  full_name: string;
  created_at: string;
}

/** Organization membership: owners administer the organization and all its repositories. */
export interface OrgMembersTable {
  namespace_id: number;
  account_id: number;
  role: 'owner' | 'member';
  created_at: string;
}

export interface TeamsTable {
  id: Generated<number>;
  namespace_id: number;
  name: string;
  description: string;
  created_at: string;
}

export interface TeamMembersTable {
  team_id: number;
  account_id: number;
}

export interface TeamPermissionsTable {
  team_id: number;
  repository_id: number;
  permission: Permission;
}

/** A user repository's collaborators. */
export interface CollaboratorsTable {
  repository_id: number;
  account_id: number;
  permission: Permission;
  created_at: string;
}

export interface StarsTable {
  repository_id: number;
  account_id: number;
  created_at: string;
}

/** Personal access tokens, usable as a password (docker login, the hub API). Only a hash is kept. */
export interface AccessTokensTable {
  id: Generated<number>;
  account_id: number;
  /** The token's label. */
  name: string;
  /** sha256 of the secret, hex. */
  token_hash: string;
  scope: 'read' | 'read-write' | 'admin';
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface WebhooksTable {
  id: Generated<number>;
  repository_id: number;
  name: string;
  url: string;
  /** HMAC-SHA256 key of the signature header; '' for unsigned. */
  secret: string;
  /** JSON array of events: `push`, `delete`. */
  events: string;
  active: number;
  created_at: string;
}

/**
 * The durable delivery queue and its history: one row per event per target. Targets are a
 * repository webhook (`webhook_id`) or a registry-wide notification endpoint from the config
 * (`endpoint`, by name).
 */
export interface DeliveriesTable {
  id: Generated<number>;
  webhook_id: number | null;
  endpoint: string | null;
  url: string;
  event: string;
  /** The JSON body to POST. */
  payload: string;
  content_type: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: string;
  created_at: string;
  delivered_at: string | null;
}

export interface DeliveryAttemptsTable {
  id: Generated<number>;
  delivery_id: number;
  attempted_at: string;
  /** HTTP status, null when no answer came. */
  status_code: number | null;
  duration_ms: number;
  error: string | null;
}

/** Security-relevant actions: logins, tokens, permissions, deletes, visibility. */
export interface AuditLogTable {
  id: Generated<number>;
  at: string;
  /** Who did it (null: anonymous or the system). */
  account_id: number | null;
  action: string;
  /** The namespace it concerns, for organization owners' view. */
  namespace_id: number | null;
  target: string;
  /** JSON object with details. */
  detail: string;
  ip: string;
}

/** Web UI sign-in sessions (cookie = the id; the CSRF token is tied to the session). */
export interface HubSessionsTable {
  id: string;
  account_id: number;
  csrf_token: string;
  created_at: string;
  expires_at: string;
}

/** Columns the hub adds to `repositories`. */
export interface HubRepositoryColumns {
  namespace_id: number | null;
  /** Up to 100 characters. */
  description: Generated<string>;
  /** Markdown. */
  full_description: Generated<string>;
  is_official: Generated<number>;
  star_count: Generated<number>;
  pull_count: Generated<number>;
  last_pushed_at: string | null;
}

/** Columns the hub adds to `tags`. */
export interface HubTagColumns {
  pushed_at: string | null;
  pulled_at: string | null;
}

/** Columns the hub adds to `refresh_tokens` (0004_h1): the access token a login used, if any. */
export interface HubRefreshTokenColumns {
  access_token_id: number | null;
}
