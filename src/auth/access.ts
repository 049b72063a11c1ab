import type { Account } from '../metadata/accounts.js';
import type { MetadataDb } from '../metadata/db.js';
import { type CatalogReader, findRepository, grantedActions } from '../metadata/repositories.js';
import { isValidRepositoryName } from '../oci/name.js';
import { RepositoryActions, type ResourceAccess } from './scope.js';

/**
 * Who may do what on a repository:
 * - admins: everything, everywhere;
 * - an account: everything in its own namespace (`alice/…`), and top-level repositories
 *   when `allowTopLevel` is set;
 * - an account granted access: the granted actions;
 * - anyone, also anonymous: pull on public repositories.
 * A repository that does not exist grants nothing to someone who could not create it, so
 * unknown and forbidden repositories look the same from outside.
 */
export class AccessPolicy {
  constructor(
    private readonly db: MetadataDb,
    private readonly options: { allowTopLevel: boolean },
  ) {}

  async allowedActions(account: Account | undefined, name: string): Promise<Set<string>> {
    const all = new Set<string>(RepositoryActions);
    if (!isValidRepositoryName(name)) return new Set();
    if (account?.isAdmin) return all;
    const slash = name.indexOf('/');
    const namespace = slash < 0 ? undefined : name.slice(0, slash);
    if (account && namespace === account.username) return all;
    if (account && namespace === undefined && this.options.allowTopLevel) return all;
    const repo = await findRepository(this.db, name);
    const allowed = new Set<string>();
    if (!repo) return allowed;
    if (repo.visibility === 'public') allowed.add('pull');
    if (account) for (const a of await grantedActions(this.db, repo.id, account.id)) allowed.add(a);
    return allowed;
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
