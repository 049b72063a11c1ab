/**
 * Scopes of Docker's token authentication: `type:name:action[,action…]`, several in one string
 * separated by spaces, e.g. `repository:alice/app:pull,push registry:catalog:*`.
 */
export interface ResourceAccess {
  type: string;
  name: string;
  actions: string[];
}

/** The access one request needs, or a token grants, on a repository. */
export const RepositoryActions = ['pull', 'push', 'delete'] as const;

/** Parses scope strings; malformed entries are dropped (a token server never fails on scope). */
export function parseScopes(values: string[]): ResourceAccess[] {
  const out: ResourceAccess[] = [];
  for (const value of values) {
    for (const scope of value.split(' ')) {
      const first = scope.indexOf(':');
      const last = scope.lastIndexOf(':');
      // The name may hold a registry host with a port, so the actions follow the LAST colon.
      if (first <= 0 || last <= first) continue;
      const type = scope.slice(0, first).replace(/\(.*\)$/, '');
      const name = scope.slice(first + 1, last);
      const actions = scope
        .slice(last + 1)
        .split(',')
        .filter((a) => a !== '');
      if (!/^[a-z0-9]+$/.test(type) || name === '') continue;
      out.push({ type, name, actions });
    }
  }
  return out;
}

export function formatScope(access: ResourceAccess): string {
  return `${access.type}:${access.name}:${access.actions.join(',')}`;
}

/** Does a list of granted access entries include `action` on `type:name`? */
export function hasAccess(granted: ResourceAccess[], type: string, name: string, action: string): boolean {
  return granted.some(
    (g) => g.type === type && g.name === name && (g.actions.includes(action) || g.actions.includes('*')),
  );
}
