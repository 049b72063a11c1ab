// The web UI (issue 6): server-rendered pages (eta through @fastify/view), cookie sessions, a
// CSRF token in every form, one stylesheet. Everything works without JavaScript: forms POST and
// answer with a redirect (303) or the page again with a message.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fastifyCookie from '@fastify/cookie';
import fastifyView from '@fastify/view';
import { Eta } from 'eta';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { findAccountById } from '../../metadata/accounts.js';
import { UNAVAILABLE_RETRY_AFTER, unavailableError } from '../errors.js';
import { STATIC_DIR, VIEWS_DIR } from './assets.js';
import { NotFound, page, type UiDeps, userError, type Viewer } from './context.js';
import { escapeHtml } from './escape.js';
import { UI_PAGES } from './pages/index.js';
import { CSRF_COOKIE, csrfMatches, findSession, randomToken, SESSION_COOKIE } from './sessions.js';

export async function uiRoutes(app: FastifyInstance, deps: UiDeps): Promise<void> {
  await app.register(fastifyCookie);
  await app.register(fastifyView, {
    engine: { eta: new Eta({ autoEscape: true, autoTrim: false }) },
    root: VIEWS_DIR,
    production: process.env.NODE_ENV !== 'development',
  });
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 256 * 1024 },
    (_req, body, done) => done(null, new URLSearchParams(body as string)),
  );
  // Set by the onRequest hook below on every request; fastify wants a non-object start value.
  app.decorateRequest('viewer', null as unknown as Viewer);

  const css = await readFile(join(STATIC_DIR, 'wharf.css'));
  app.get('/static/wharf.css', async (_req, reply) =>
    reply.type('text/css; charset=utf-8').header('Cache-Control', 'public, max-age=300').send(css),
  );
  // The one script (copy buttons, relative times), allowed by the CSP as 'self': pages work without it.
  const js = await readFile(join(STATIC_DIR, 'wharf.js'));
  app.get('/static/wharf.js', async (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').header('Cache-Control', 'public, max-age=300').send(js),
  );

  app.addHook('onRequest', async (req, reply) => {
    reply.header('X-Frame-Options', 'DENY');
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Referrer-Policy', 'same-origin');
    // Only the app's own script file runs: no inline script or handler, whatever a description contains.
    reply.header(
      'Content-Security-Policy',
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    const sessionId = req.cookies[SESSION_COOKIE];
    const session = sessionId ? await findSession(deps.db, sessionId) : undefined;
    const account = session ? await findAccountById(deps.db, session.accountId) : undefined;
    if (session && account && !account.disabled) {
      req.viewer = { account, session, csrf: session.csrf };
      return;
    }
    let csrf = req.cookies[CSRF_COOKIE];
    if (!csrf || csrf.length < 32) {
      csrf = randomToken();
      reply.setCookie(CSRF_COOKIE, csrf, { path: '/', httpOnly: true, sameSite: 'lax', secure: deps.secure });
    }
    req.viewer = { account: undefined, session: undefined, csrf };
  });

  // Every POST carries the CSRF token of its session (or of the anonymous cookie): else 403.
  app.addHook('preHandler', async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.method !== 'POST') return;
    const given = req.body instanceof URLSearchParams ? (req.body.get('_csrf') ?? undefined) : undefined;
    if (!csrfMatches(req.viewer.csrf, given)) {
      await page(
        req,
        reply,
        'error',
        {
          title: 'Forbidden',
          message: 'The form was stale or did not come from this site. Go back, reload and try again.',
        },
        403,
      );
    }
  });

  app.setErrorHandler(async (err, req, reply) => {
    const down = unavailableError(err);
    if (down) {
      // A plain page: the layout needs the viewer, which may be what could not be loaded.
      req.log.warn({ err }, 'web UI: a service is unavailable');
      return reply
        .code(503)
        .header('Retry-After', UNAVAILABLE_RETRY_AFTER)
        .type('text/html; charset=utf-8')
        .send(unavailablePage(down.message));
    }
    if (err instanceof NotFound) {
      return page(
        req,
        reply,
        'error',
        { title: 'Not found', message: 'There is nothing here, or you may not see it.' },
        404,
      );
    }
    const known = userError(err);
    if (known)
      return page(
        req,
        reply,
        'error',
        { title: 'Refused', message: known.message },
        known.status === 404 ? 404 : known.status,
      );
    const status =
      typeof (err as { statusCode?: unknown }).statusCode === 'number'
        ? (err as { statusCode: number }).statusCode
        : 500;
    if (status >= 500) req.log.error({ err }, 'web UI error');
    return page(
      req,
      reply,
      'error',
      { title: 'Error', message: status >= 500 ? 'Something went wrong.' : (err as Error).message },
      status,
    );
  });

  for (const register of UI_PAGES) await register(app, deps);
}

/** The page of a 503 (the database or the object store unreachable): no layout, nothing to load. */
function unavailablePage(message: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Temporarily unavailable · Wharf</title><link rel="stylesheet" href="/static/wharf.css"></head>
<body><main id="main"><h1>Temporarily unavailable</h1>
<p class="notice error">${escapeHtml(message)}</p>
<p>Nothing was changed. Reload the page in a few seconds.</p></main></body>
</html>
`;
}
