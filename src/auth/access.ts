import type { Account } from '../metadata/accounts.js';
import type { MetadataDb } from '../metadata/db.js';
import {
  findNamespace,
  heldPermission,
  isOrgOwner,
  type Namespace,
  namespaceOf,
  PlanLimitError,
  permissionActions,
  privateQuota,
} from '../metadata/namespaces.js';
import { type CatalogReader, findRepository, grantedActions, resolveReadName } from '../metadata/repositories.js';
import { isValidRepositoryName } from '../oci/name.js';
import { RepositoryActions, type ResourceAccess } from './scope.js';

/**
 * Who may do what on a repository:
 * - admins: everything, everywhere;
 * - an account: everything in its own namespace (`alice/…`), and top-level repositories
 *   when `allowTopLevel` is set; an organization's owners: everything in the organization;
 * - team members and collaborators: their permission's actions (read: pull; write: pull, push;
 *   admin: pull, push, delete), and accounts in repository_grants: the granted actions;
 * - anyone, also anonymous: pull on public repositories.
 * A repository that does not exist grants nothing to someone who could not create it, so
 * unknown and forbidden repositories look the same from outside. Creating one by a push gets
 * the namespace's default visibility; when that is private and the namespace's plan is full,
 * push is not granted (and `onDenied` says why). That is an early answer only: the plan is
 * enforced where the repository row is created (metadata's ensureRepository), since a token
 * may cover several new repositories, or outlive the namespace's switch to private.
 */
export class AccessPolicy {
  constructor(
    private readonly db: MetadataDb,
    private readonly options: {
      allowTopLevel: boolean;
      /**
       * Names a pull-through cache serves (proxy.remotes). Before the first pull creates such a
       * repository, pull is allowed as the repository will be: to anyone when `cacheVisibility` is
       * public, to signed-in accounts when private.
       */
      cached?: (name: string) => boolean;
      cacheVisibility?: 'public' | 'private';
      onDenied?: (denial: { account: Account; repository: string; namespaceId: number; reason: string }) => void;
    },
  ) {}

  async allowedActions(account: Account | undefined, name: string): Promise<Set<string>> {
    const all = new Set<string>(RepositoryActions);
    if (!isValidRepositoryName(name)) return new Set();
    if (account?.isAdmin) return all;
    const nsName = namespaceOf(name);
    const repo = await findRepository(this.db, name);
    if (!repo && nsName === undefined) {
      // `x` reads an official `library/x`: pull only, as that repository allows it (before the
      // top-level rule, so that nobody can create an `x` that hides the official image).
      const official = await resolveReadName(this.db, name);
      if (official !== undefined) {
        const pull = (await this.allowedActions(account, official)).has('pull');
        return new Set(pull ? ['pull'] : []);
      }
    }
    if (account && nsName === undefined && this.options.allowTopLevel) return all;
    // Only an account can administer a namespace: an anonymous request skips the lookup.
    const ns = nsName === undefined || !account ? undefined : await findNamespace(this.db, nsName);
    if (account && nsName !== undefined && (await this.administers(account, nsName, ns))) {
      if (repo || !ns) return all;
      return this.creatable(account, name, ns);
    }
    const allowed = new Set<string>();
    if (!repo) {
      if (this.options.cached?.(name) && (account || this.options.cacheVisibility === 'public')) allowed.add('pull');
      return allowed;
    }
    if (repo.visibility === 'public') allowed.add('pull');
    if (account) {
      for (const a of await grantedActions(this.db, repo.id, account.id)) allowed.add(a);
      const held = await heldPermission(this.db, repo.id, account.id);
      if (held) for (const a of permissionActions(held)) allowed.add(a);
    }
    return allowed;
  }

  /** Own namespace, or an owner of the organization. */
  private async administers(account: Account, nsName: string, ns: Namespace | undefined): Promise<boolean> {
    if (nsName === account.username) return true;
    return ns?.kind === 'org' && (await isOrgOwner(this.db, ns.id, account.id));
  }

  /** What a push that creates `name` may do: everything, unless it would go over the plan. */
  private async creatable(account: Account, name: string, ns: Namespace): Promise<Set<string>> {
    const all = new Set<string>(RepositoryActions);
    // Only the namespace's own default counts: a server made private as a whole
    // (auth.default_visibility) is the operator's choice, not the namespace's use of its plan.
    if (ns.defaultVisibility !== 'private') return all;
    const quota = await privateQuota(this.db, ns);
    if (quota.used < quota.allowed) return all;
    this.options.onDenied?.({
      account,
      repository: name,
      namespaceId: ns.id,
      reason: new PlanLimitError(ns.name, quota.allowed).message,
    });
    return new Set(['pull']);
  }

  /** The intersection of what was asked and what is allowed; never an error. */
  async grant(account: Account | undefined, requested: ResourceAccess[]): Promise<ResourceAccess[]> {
    const granted: ResourceAccess[] = [];
    for (const r of requested) {
      if (r.type === 'registry' && r.name === 'catalog') {
        // Everyone may list the catalog; the listing shows only what the reader may pull.
        granted.push({ type: 'registry', name: 'catalog', actions: ['*'] });
        continue;
      }
      if (r.type !== 'repository') continue;
      const allowed = await this.allowedActions(account, r.name);
      const wanted = r.actions.includes('*') ? [...allowed] : r.actions.filter((a) => allowed.has(a));
      if (wanted.length > 0) granted.push({ type: 'repository', name: r.name, actions: [...new Set(wanted)] });
    }
    return granted;
  }

  catalogReader(account: Account | undefined): CatalogReader {
    if (account?.isAdmin) return { all: true };
    if (!account) return { all: false };
    return { all: false, accountId: account.id, namespace: account.username };
  }
}
