import { join } from 'node:path';
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { AccessPolicy } from '../auth/access.js';
import { ensureAdmin } from '../auth/bootstrap.js';
import { DatabaseLoginThrottle } from '../auth/db-throttle.js';
import { Htpasswd } from '../auth/htpasswd.js';
import { formatScope, hasAccess, type ResourceAccess } from '../auth/scope.js';
import { type FailedLogins, LoginThrottle } from '../auth/throttle.js';
import { TokenService } from '../auth/tokens.js';
import { audit } from '../hub/audit.js';
import { type Account, findAccount } from '../metadata/accounts.js';
import type { MetadataDb } from '../metadata/db.js';
import { fail } from '../registry/errors.js';
import { servedByRemote } from '../registry/proxy/names.js';
import { type Authorizer, everyone, openAuthorizer } from './authorizer.js';
import { type Config, ConfigError } from './config.js';

export function basicCredentials(req: FastifyRequest): { username: string; password: string } | undefined {
  const header = req.headers.authorization;
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  // `Basic Og==` (":"): what containers/image (skopeo, podman) sends when it has no credentials.
  // That is an anonymous request, not a failed login: counting it would throttle the whole address.
  if (colon === 0 && decoded.length === 1) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export const throttleKeys = (username: string, req: FastifyRequest) => [`account:${username}`, `addr:${req.ip}`];

export async function checkThrottle(throttle: FailedLogins, keys: string[]): Promise<void> {
  const wait = await throttle.retryAfter(keys);
  if (wait !== undefined) {
    fail('TOOMANYREQUESTS', {
      message: 'too many failed login attempts, try again later',
      headers: { 'Retry-After': String(wait) },
    });
  }
}

/** auth.mode htpasswd: Basic auth against the file; any valid user may do anything, as in Distribution. */
export function htpasswdAuthorizer(file: Htpasswd, throttle: FailedLogins, realm = 'wharf'): Authorizer {
  const challenge = { 'WWW-Authenticate': `Basic realm="${realm}"` };
  return {
    async check(req) {
      const creds = basicCredentials(req);
      if (!creds) fail('UNAUTHORIZED', { headers: challenge });
      const keys = throttleKeys(creds.username, req);
      await checkThrottle(throttle, keys);
      if (!(await file.verify(creds.username, creds.password))) {
        await throttle.failure(keys);
        fail('UNAUTHORIZED', { message: 'incorrect username or password', headers: challenge });
      }
      await throttle.success(keys);
      return { ...everyone, subject: creds.username };
    },
  };
}

export interface TokenAuthDeps {
  db: MetadataDb;
  tokens: TokenService;
  policy: AccessPolicy;
  throttle: FailedLogins;
  service: string;
  /** Fixed realm URL, or '' to derive it from the request. */
  realm: string;
  refreshTtlMs: number;
}

function realmOf(deps: TokenAuthDeps, req: FastifyRequest): string {
  if (deps.realm) return deps.realm;
  const host = req.headers.host ?? `${req.hostname}`;
  return `${req.protocol}://${host}/token`;
}

/** auth.mode token: Docker's bearer-token flow; what a request may do is in its token. */
export function tokenAuthorizer(deps: TokenAuthDeps): Authorizer {
  const accountOf = async (subject: string): Promise<Account | undefined> =>
    subject === '' ? undefined : findAccount(deps.db, subject);
  return {
    async check(req, need) {
      const header = req.headers.authorization;
      const wanted: ResourceAccess | undefined =
        need.kind === 'repository'
          ? { type: 'repository', name: need.name, actions: need.actions }
          : need.kind === 'catalog'
            ? { type: 'registry', name: 'catalog', actions: ['*'] }
            : undefined;
      const challenge = (error?: 'invalid_token' | 'insufficient_scope') => {
        let value = `Bearer realm="${realmOf(deps, req)}",service="${deps.service}"`;
        if (wanted) value += `,scope="${formatScope(wanted)}"`;
        if (error) value += `,error="${error}"`;
        const detail = wanted?.actions.map((a) => ({ Type: wanted.type, Class: '', Name: wanted.name, Action: a }));
        return fail('UNAUTHORIZED', { headers: { 'WWW-Authenticate': value }, ...(detail ? { detail } : {}) });
      };
      if (!header?.startsWith('Bearer ')) return challenge();
      let verified: Awaited<ReturnType<TokenService['verify']>>;
      try {
        verified = await deps.tokens.verify(header.slice(7).trim());
      } catch {
        return challenge('invalid_token');
      }
      if (wanted && !wanted.actions.every((a) => hasAccess(verified.access, wanted.type, wanted.name, a))) {
        return challenge('insufficient_scope');
      }
      return {
        subject: verified.subject,
        canPull: async (name) => hasAccess(verified.access, 'repository', name, 'pull'),
        catalog: async () => deps.policy.catalogReader(await accountOf(verified.subject)),
      };
    },
  };
}

/** The authorizer of `auth.mode`, and for token mode what the token endpoint needs. */
export async function createAuthorizer(
  config: Config,
  db: MetadataDb,
  logger: Logger,
): Promise<{ authorizer: Authorizer; tokenDeps?: TokenAuthDeps }> {
  const { auth } = config;
  const limits = { maxFailures: auth.max_login_failures, windowMs: auth.login_failure_window };
  // Several nodes share one PostgreSQL: they must count the same failures. One SQLite process
  // keeps them in memory (no write per failed login on the single writer).
  const throttle: FailedLogins =
    config.database.url === '' ? new LoginThrottle(limits) : new DatabaseLoginThrottle(db, limits);
  switch (auth.mode) {
    case 'none':
      return { authorizer: openAuthorizer };
    case 'htpasswd': {
      if (!auth.htpasswd_file) throw new ConfigError('auth.mode htpasswd needs auth.htpasswd_file');
      const file = new Htpasswd(auth.htpasswd_file, (msg) => logger.warn(msg));
      return { authorizer: htpasswdAuthorizer(file, throttle) };
    }
    case 'token': {
      const onDisk = config.storage.driver === 'filesystem';
      await ensureAdmin(db, {
        ...(onDisk ? { dataDir: config.storage.root } : {}),
        ...(process.env.WHARF_ADMIN_PASSWORD ? { password: process.env.WHARF_ADMIN_PASSWORD } : {}),
        log: (msg) => logger.warn(msg),
      });
      const tokens = await TokenService.open(db, {
        // Wharf before 0010 kept the key in this file: imported once, so its tokens stay valid.
        ...(onDisk ? { legacyKeyFile: join(config.storage.root, 'auth', 'token-signing-key.json') } : {}),
        issuer: auth.issuer,
        service: auth.service,
        ttlMs: auth.token_ttl,
      });
      const tokenDeps: TokenAuthDeps = {
        db,
        tokens,
        policy: new AccessPolicy(db, {
          allowTopLevel: auth.allow_top_level,
          cached: (name) => servedByRemote(config.proxy.remotes, name),
          cacheVisibility: auth.default_visibility,
          // Docker only shows "denied"; the reason goes to the server log and the audit log.
          onDenied: ({ account, repository, namespaceId, reason }) => {
            logger.warn({ account: account.username, repository, reason }, 'push refused');
            void audit(db, {
              action: 'push.refused',
              accountId: account.id,
              namespaceId,
              target: repository,
              detail: { reason },
            });
          },
        }),
        throttle,
        service: auth.service,
        realm: auth.realm,
        refreshTtlMs: auth.refresh_token_ttl,
      };
      return { authorizer: tokenAuthorizer(tokenDeps), tokenDeps };
    }
  }
}
