import { sql } from 'kysely';
import { type Account, findAccount } from '../metadata/accounts.js';
import { type MetadataDb, now } from '../metadata/db.js';
import { findNamespace, type Namespace } from '../metadata/namespaces.js';
import { HubError } from './errors.js';

export type { Namespace } from '../metadata/namespaces.js';

/** Namespace names follow the repository path-component grammar (as usernames). */
const NAME_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

export function checkNamespaceName(name: string): void {
  if (name.length > 64 || !NAME_RE.test(name))
    throw new HubError(
      'invalid',
      `invalid name ${JSON.stringify(name)}: lowercase letters and digits, optionally separated by '.', '_' or '-'`,
    );
}

/**
 * Names only administrators may give to a user or an organization: `library` holds the official
 * images that everyone pulls as `x`; the others are words of the registry's own URLs and of its
 * operators (`/v2/`, `/api/`, `/token`, `admin`…) that would let an account pass for the system.
 */
export const RESERVED_NAMESPACES: ReadonlySet<string> = new Set([
  'library',
  'admin',
  'administrator',
  'root',
  'system',
  'wharf',
  'api',
  'v1',
  'v2',
  'token',
  'oauth',
  'auth',
  'login',
  'logout',
  'signin',
  'signup',
  'settings',
  'orgs',
  'users',
  'explore',
  'search',
  'static',
  'assets',
  'health',
  'metrics',
  'docker',
]);

/**
 * Whether a self-service user or organization may take `name` (sign-up, `POST /api/orgs`,
 * `/orgs/new`); throws a HubError with a message for users otherwise:
 * - the name grammar (`invalid`),
 * - reserved names (`RESERVED_NAMESPACES`, administrators only: `denied`),
 * - a name an account or a namespace already has (`conflict`),
 * - a name that is already the first component of a repository (`conflict`): whoever owns a
 *   namespace may change every repository in it, so claiming `acme` would hand over `acme/app`
 *   that somebody else pushed (a registry that ran without accounts has such repositories).
 *
 * Administrators are not held to the last two (CLI `wharf user add`, the admin API): they give
 * such names to the people the repositories belong to.
 */
export async function checkNamespaceClaim(db: MetadataDb, name: string): Promise<void> {
  checkNamespaceName(name);
  if (RESERVED_NAMESPACES.has(name))
    throw new HubError('denied', `the name ${JSON.stringify(name)} is reserved; an administrator may create it`);
  const taken =
    (await db.selectFrom('namespaces').select('id').where('name', '=', name).executeTakeFirst()) ??
    (await db.selectFrom('accounts').select('id').where('username', '=', name).executeTakeFirst());
  if (taken) throw new HubError('conflict', `the name ${JSON.stringify(name)} is already taken`);
  // substr rather than LIKE: '_' is a wildcard in LIKE, and LIKE ignores case.
  const prefix = `${name}/`;
  const repo = await db
    .selectFrom('repositories')
    .select('id')
    .where(sql<string>`substr(name, 1, ${prefix.length})`, '=', prefix)
    .limit(1)
    .executeTakeFirst();
  if (repo)
    throw new HubError(
      'conflict',
      `the name ${JSON.stringify(name)} is taken: repositories named ${name}/… already exist; ask an administrator to create it for the people they belong to`,
    );
}

/**
 * Creates an organization owned by `owner`. Users and organizations share one name space
 * (both are the first component of repository names). A name of existing repositories or a
 * reserved name is refused unless `owner` is an administrator (`checkNamespaceClaim`).
 */
export async function createOrganization(
  db: MetadataDb,
  owner: Account,
  org: { name: string; fullName?: string },
): Promise<Namespace> {
  checkNamespaceName(org.name);
  const at = now();
  await db.transaction().execute(async (tx) => {
    if (!owner.isAdmin) await checkNamespaceClaim(tx, org.name);
    const taken =
      (await tx.selectFrom('namespaces').select('id').where('name', '=', org.name).executeTakeFirst()) ??
      (await tx.selectFrom('accounts').select('id').where('username', '=', org.name).executeTakeFirst());
    if (taken) throw new HubError('conflict', `the name ${JSON.stringify(org.name)} is already taken`);
    const plan = await tx.selectFrom('plans').select('id').where('name', '=', 'free').executeTakeFirstOrThrow();
    const result = await tx
      .insertInto('namespaces')
      .values({
        name: org.name,
        kind: 'org',
        account_id: null,
        plan_id: plan.id,
        default_visibility: 'public',
        full_name: org.fullName ?? '',
        created_at: at,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await tx
      .insertInto('org_members')
      .values({ namespace_id: result.id, account_id: owner.id, role: 'owner', created_at: at })
      .execute();
  });
  return (await findNamespace(db, org.name)) as Namespace;
}

/** Changes what an owner may change on a namespace: its full name and the default visibility of pushes. */
export async function updateNamespace(
  db: MetadataDb,
  id: number,
  changes: { fullName?: string; defaultVisibility?: 'public' | 'private' },
): Promise<void> {
  const set: { full_name?: string; default_visibility?: 'public' | 'private' } = {};
  if (changes.fullName !== undefined) set.full_name = changes.fullName.slice(0, 255);
  if (changes.defaultVisibility !== undefined) set.default_visibility = changes.defaultVisibility;
  if (Object.keys(set).length > 0) await db.updateTable('namespaces').set(set).where('id', '=', id).execute();
}

/** An account that exists and is not disabled, or a HubError naming it. */
export async function requireUser(db: MetadataDb, username: string): Promise<Account> {
  const account = await findAccount(db, username);
  if (!account || account.disabled) throw new HubError('not_found', `no user named ${JSON.stringify(username)}`);
  return account;
}
