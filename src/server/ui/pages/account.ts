// Sign up, sign in, sign out. Passwords go through the token endpoint's check and throttle.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hashPassword } from '../../../auth/passwords.js';
import { audit } from '../../../hub/audit.js';
import { checkNamespaceClaim } from '../../../hub/namespaces.js';
import { TOKEN_PREFIX } from '../../../hub/tokens.js';
import { createAccount } from '../../../metadata/accounts.js';
import { RegistryError } from '../../../registry/errors.js';
import { authenticate } from '../../token.js';
import { form, page, type UiDeps, userError } from '../context.js';
import { createSession, deleteSession, SESSION_COOKIE, SESSION_TTL_MS } from '../sessions.js';

const USERNAME_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const MIN_PASSWORD = 8;

/**
 * Only same-site paths: `next` must not send a fresh session to another site. No second slash or
 * backslash after the first, and no control characters (browsers drop a tab: `/\t/evil` is `//evil`).
 */
function safeNext(next: string | null): string {
  if (!next || !/^\/(?![/\\])[^\\]*$/.test(next)) return '/';
  const control = [...next].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  return control ? '/' : next;
}

async function startSession(deps: UiDeps, reply: FastifyReply, accountId: number, next: string): Promise<FastifyReply> {
  const session = await createSession(deps.db, accountId);
  reply.setCookie(SESSION_COOKIE, session.id, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: deps.secure,
    maxAge: SESSION_TTL_MS / 1000,
  });
  return reply.redirect(next, 303);
}

export async function accountPages(app: FastifyInstance, deps: UiDeps): Promise<void> {
  app.get('/signup', async (req, reply) => page(req, reply, 'signup', { title: 'Sign up', username: '' }));
  app.post('/signup', async (req, reply) => {
    const f = form(req);
    const username = (f.get('username') ?? '').trim();
    const password = f.get('password') ?? '';
    const fail = (error: string) => page(req, reply, 'signup', { title: 'Sign up', username, error }, 400);
    if (username.length > 64 || !USERNAME_RE.test(username)) {
      return fail('Use lowercase letters and digits, optionally separated by single ".", "_" or "-" (at most 64).');
    }
    if ([...password].length < MIN_PASSWORD) return fail(`The password needs at least ${MIN_PASSWORD} characters.`);
    // One check for all self-service names (users and organizations share them): not taken, not
    // reserved (library…), and not the first part of repositories that exist already.
    try {
      await checkNamespaceClaim(deps.db, username);
    } catch (err) {
      const refused = userError(err);
      if (!refused) throw err;
      return fail(refused.message);
    }
    const account = await createAccount(deps.db, { username, passwordHash: await hashPassword(password) });
    await audit(deps.db, { accountId: account.id, action: 'account.signup', target: username, ip: req.ip });
    return startSession(deps, reply, account.id, '/');
  });

  app.get('/signin', async (req, reply) => {
    const next = safeNext(new URLSearchParams(req.url.split('?')[1] ?? '').get('next'));
    return page(req, reply, 'signin', { title: 'Sign in', username: '', next });
  });
  app.post('/signin', async (req: FastifyRequest, reply) => {
    const f = form(req);
    const username = (f.get('username') ?? '').trim();
    const next = safeNext(f.get('next'));
    const password = f.get('password') ?? '';
    try {
      // Web sessions are for passwords: an access token (even a read-only one) must not become a
      // full session that can make new tokens.
      if (password.startsWith(TOKEN_PREFIX)) {
        await audit(deps.db, {
          action: 'login.failed',
          target: username,
          detail: { via: 'web', accessToken: true },
          ip: req.ip,
        });
        throw new RegistryError('UNAUTHORIZED', { message: 'access tokens do not sign in to the web UI' });
      }
      const account = await authenticate(deps.auth, req, username, password);
      await audit(deps.db, {
        accountId: account.id,
        action: 'login',
        target: username,
        detail: { via: 'web' },
        ip: req.ip,
      });
      return startSession(deps, reply, account.id, next);
    } catch (err) {
      if (!(err instanceof RegistryError)) throw err;
      const status = err.status === 429 ? 429 : 401;
      // A wrong password is recorded by authenticate itself; a throttled attempt never reached it.
      if (status === 429) {
        await audit(deps.db, {
          action: 'login.failed',
          target: username,
          detail: { via: 'web', throttled: true },
          ip: req.ip,
        });
      }
      const error = status === 429 ? 'Too many failed sign-ins: try again later.' : 'Incorrect username or password.';
      return page(req, reply, 'signin', { title: 'Sign in', username, next, error }, status);
    }
  });

  app.post('/signout', async (req, reply) => {
    const { session } = req.viewer;
    if (session) await deleteSession(deps.db, session.id);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/', 303);
  });
}
