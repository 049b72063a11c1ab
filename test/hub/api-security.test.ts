// Findings of the hub's security review, each pinned by a test: registry tokens are not hub API
// credentials, a read-only access token cannot become a web session, the rate limit cannot be
// spent in another account's name, cross-site forms cannot write to the API, `next` after sign-in
// stays on the site, and an official `library/x` cannot be hidden by a top-level `x`.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WharfServer } from '../../src/server/app.js';
import { hubServer } from '../support/server.js';

const PASSWORDS = { admin: 'admin-Secret-0', alice: 'alice-Secret-1', carol: 'carol-Secret-3' };
type User = keyof typeof PASSWORDS;
const basic = (user: User, password: string = PASSWORDS[user]) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function setUp(env: NodeJS.ProcessEnv = {}): Promise<WharfServer> {
  return hubServer(PASSWORDS, { env });
}

/** A read-only access token of alice's, made through the API. */
async function readOnlyToken(app: FastifyInstance): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/access-tokens',
    headers: { authorization: basic('alice'), 'content-type': 'application/json' },
    payload: JSON.stringify({ token_label: 'ci', scope: 'read' }),
  });
  expect(res.statusCode).toBe(201);
  return (res.json() as { token: string }).token;
}

describe('hub security', () => {
  let server: WharfServer;
  let app: FastifyInstance;

  beforeAll(async () => {
    server = await setUp();
    app = server.app;
  });
  afterAll(() => server.close());

  it('refuses a registry token from /token as an API credential, even one got with a read-only access token', async () => {
    const token = await readOnlyToken(app);
    const issued = await app.inject({
      method: 'GET',
      url: '/token?service=wharf',
      headers: { authorization: `Basic ${Buffer.from(`alice:${token}`).toString('base64')}` },
    });
    expect(issued.statusCode).toBe(200);
    const jwt = (issued.json() as { token: string }).token;
    const escalate = await app.inject({
      method: 'POST',
      url: '/api/access-tokens',
      headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ token_label: 'evil', scope: 'admin' }),
    });
    expect(escalate.statusCode).toBe(401);
    // The access token itself still works within its scope: reading, not writing.
    const read = await app.inject({
      method: 'GET',
      url: '/api/users/alice',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(read.statusCode).toBe(200);
  });

  it('a web sign-in with an access token instead of the password is refused, and no session is made', async () => {
    const token = await readOnlyToken(app);
    const form = await app.inject({ method: 'GET', url: '/signin' });
    const csrfCookie = form.cookies.find((c) => c.name === 'wharf_csrf');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1];
    expect(csrfCookie && csrf).toBeTruthy();
    const signin = (password: string) =>
      app.inject({
        method: 'POST',
        url: '/signin',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `wharf_csrf=${csrfCookie?.value}` },
        payload: new URLSearchParams({ _csrf: csrf ?? '', username: 'alice', password, next: '/' }).toString(),
      });
    const withToken = await signin(token);
    expect(withToken.statusCode).toBe(401);
    expect(withToken.cookies.find((c) => c.name === 'wharf_session')).toBeUndefined();
    expect(withToken.body).toContain('Incorrect username or password.');
    // The password still signs in.
    const withPassword = await signin(PASSWORDS.alice);
    expect(withPassword.statusCode).toBe(303);
    expect(withPassword.cookies.find((c) => c.name === 'wharf_session')).toBeDefined();
  });

  it('after sign-in, `next` only leads to a path of this site (a tab would make /\\t/evil //evil)', async () => {
    const form = await app.inject({ method: 'GET', url: '/signin?next=/%09/evil.example' });
    expect(form.body).toContain('name="next" value="/"');
    const ok = await app.inject({ method: 'GET', url: '/signin?next=/r/alice/app' });
    expect(ok.body).toContain('name="next" value="/r/alice/app"');
  });

  it("the rate limit counts addresses: failures sent in carol's name elsewhere do not lock carol out", async () => {
    const limited = await setUp();
    try {
      for (let i = 0; i < 601; i++) {
        await limited.app.inject({
          method: 'GET',
          url: '/api/users/carol',
          remoteAddress: '10.9.9.9',
          headers: { authorization: basic('carol', 'wrong') },
        });
      }
      const attacker = await limited.app.inject({
        method: 'GET',
        url: '/api/users/carol',
        remoteAddress: '10.9.9.9',
        headers: { authorization: basic('carol') },
      });
      expect(attacker.statusCode).toBe(429);
      const carol = await limited.app.inject({
        method: 'GET',
        url: '/api/users/carol',
        remoteAddress: '10.1.1.1',
        headers: { authorization: basic('carol') },
      });
      expect(carol.statusCode).toBe(200);
      expect(carol.headers['x-ratelimit-remaining']).toBe('599');
    } finally {
      await limited.close();
    }
  });

  it('an API write sent as a form (what a cross-site page can send) is refused with 415', async () => {
    for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
      const res = await app.inject({
        method: 'POST',
        url: '/api/repositories/alice',
        headers: { authorization: basic('alice'), 'content-type': type },
        payload: 'name=from-a-form',
      });
      expect(res.statusCode).toBe(415);
    }
    const json = await app.inject({
      method: 'POST',
      url: '/api/repositories/alice',
      headers: { authorization: basic('alice'), 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'from-json' }),
    });
    expect(json.statusCode).toBe(201);
  });

  it('body-less POST/PUT/PATCH/DELETE without application/json get 415 and change nothing', async () => {
    const create = await app.inject({
      method: 'POST',
      url: '/api/repositories/alice',
      headers: { authorization: basic('alice'), 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'starred' }),
    });
    expect(create.statusCode).toBe(201);
    const star = '/api/repositories/alice/starred/star';
    const bare = (method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, headers: Record<string, string> = {}) =>
      app.inject({ method, url, headers: { authorization: basic('alice'), ...headers } });
    const starCount = async () =>
      ((await app.inject({ url: '/api/repositories/alice/starred' })).json() as { star_count: number }).star_count;

    // What a cross-site page can send: no Content-Type at all, or a form's with an empty body.
    for (const headers of [{}, { 'content-type': 'text/plain' }] as Record<string, string>[]) {
      for (const [method, url] of [
        ['POST', star],
        ['PUT', '/api/repositories/alice/starred/collaborators/carol'],
        ['PATCH', '/api/user'],
        ['DELETE', '/api/repositories/alice/starred'],
      ] as const) {
        const res = await bare(method, url, headers);
        expect(res.statusCode, `${method} ${url}`).toBe(415);
        expect((res.json() as { errors: { code: string }[] }).errors[0]?.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      }
    }
    expect(await starCount()).toBe(0);
    expect((await app.inject({ url: '/api/repositories/alice/starred' })).statusCode).toBe(200);

    // Declared JSON, still without a body: accepted.
    const json = { 'content-type': 'application/json' };
    expect((await bare('POST', star, json)).statusCode).toBe(200);
    expect(await starCount()).toBe(1);
    expect((await bare('DELETE', star)).statusCode).toBe(415);
    expect(await starCount()).toBe(1);
    expect((await bare('DELETE', star, json)).statusCode).toBe(200);
    expect(await starCount()).toBe(0);
  });
});

describe('hub security with auth.allow_top_level', () => {
  let server: WharfServer;

  beforeAll(async () => {
    server = await setUp({ WHARF_AUTH_ALLOW_TOP_LEVEL: 'true' });
  });
  afterAll(() => server.close());

  it('a top-level x cannot be pushed over an official library/x: the name gives pull only', async () => {
    const db = server.ctx.db;
    await db
      .insertInto('repositories')
      .values({ name: 'library/nginx', created_at: new Date().toISOString() })
      .execute();
    await db.updateTable('repositories').set({ is_official: 1 }).where('name', '=', 'library/nginx').execute();
    const res = await server.app.inject({
      method: 'GET',
      url: '/token?service=wharf&scope=repository:nginx:pull,push&scope=repository:other:pull,push',
      headers: { authorization: basic('carol') },
    });
    const { token } = res.json() as { token: string };
    const access = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).access as unknown[];
    expect(access).toEqual([
      { type: 'repository', name: 'nginx', actions: ['pull'] },
      { type: 'repository', name: 'other', actions: ['pull', 'push'] },
    ]);
  });
});

describe('hub security: names', () => {
  let server: WharfServer;

  beforeAll(async () => {
    server = await setUp();
  });
  afterAll(() => server.close());

  it('web sign-up cannot take a reserved name or the namespace of existing repositories', async () => {
    const db = server.ctx.db;
    await db.insertInto('repositories').values({ name: 'acme/app', created_at: new Date().toISOString() }).execute();
    const form = await server.app.inject({ method: 'GET', url: '/signup' });
    const csrfCookie = form.cookies.find((c) => c.name === 'wharf_csrf');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1] ?? '';
    const signup = (username: string) =>
      server.app.inject({
        method: 'POST',
        url: '/signup',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `wharf_csrf=${csrfCookie?.value}` },
        payload: new URLSearchParams({ _csrf: csrf, username, password: 'long-enough-1' }).toString(),
      });
    for (const name of ['acme', 'library']) {
      const res = await signup(name);
      expect(res.statusCode).toBe(400);
      expect(res.cookies.find((c) => c.name === 'wharf_session')).toBeUndefined();
    }
    expect((await signup('acme')).body).toContain('acme/');
    expect((await signup('newcomer')).statusCode).toBe(303);
  });
});
