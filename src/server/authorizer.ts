import type { FastifyRequest } from 'fastify';
import type { CatalogReader } from '../metadata/repositories.js';

// The contract between the /v2 routes and access control. Kept apart from the
// authorizers themselves so that a server without access control loads none of them.

/** What a /v2 request needs: just being let in, the catalog, or actions on a repository. */
export type Need = { kind: 'base' } | { kind: 'catalog' } | { kind: 'repository'; name: string; actions: string[] };

/** Who is asking, as far as the registry cares. */
export interface Principal {
  /** The account name, '' when anonymous. */
  subject: string;
  /** May the caller read `name`? Checked before a cross-repository mount. */
  canPull(name: string): Promise<boolean>;
  /** Which repositories the catalog shows to the caller. */
  catalog(): Promise<CatalogReader>;
}

export interface Authorizer {
  /** The principal, or an UNAUTHORIZED error carrying the challenge the client needs. */
  check(req: FastifyRequest, need: Need): Promise<Principal>;
}

export const everyone: Principal = {
  subject: '',
  canPull: async () => true,
  catalog: async () => ({ all: true }),
};

/** auth.mode none: like registry:2 without auth, anyone may do anything. */
export const openAuthorizer: Authorizer = { check: async () => everyone };
