// Issue 6, security review: namespace claims (an organization or a user named like the first
// component of existing repositories, reserved names), team permissions shown to members, the
// audit of team changes. A real server built in process (fastify.inject), token mode.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubError } from '../../src/hub/errors.js';
import { checkNamespaceClaim, RESERVED_NAMESPACES } from '../../src/hub/namespaces.js';
import { ensureRepository, setVisibility } from '../../src/metadata/repositories.js';
import type { WharfServer } from '../../src/server/app.js';
import { hubServer } from '../support/server.js';

const PASSWORDS: Record<string, string> = {
  admin: 'admin-Secret-0',
  alice: 'alice-Secret-1',
  bob: 'bob-Secret-2',
  carol: 'carol-Secret-3',
};
const basicOf = (user: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${PASSWORDS[user] ?? ''}`).toString('base64')}`,
});

describe('hub security review (auth.mode token)', () => {
  let server: WharfServer;
  let app: FastifyInstance;

  async function call(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, user: string, body?: unknown) {
    const headers: Record<string, string> = basicOf(user);
    if (method !== 'GET') headers['content-type'] = 'application/json';
    const res = await app.inject({
      method,
      url,
      headers,
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    return { status: res.statusCode, body: (res.body ? res.json() : {}) as Record<string, unknown> };
  }

  beforeAll(async () => {
    server = await hubServer(PASSWORDS);
    app = server.app;
  });
  afterAll(() => server.close());

  it('an organization cannot be named after the first component of existing repositories', async () => {
    // The administrator pushed acme/app before anyone had an acme namespace.
    await ensureRepository(server.ctx.db, 'acme/app');
    const claim = await call('POST', '/api/orgs', 'carol', { name: 'acme' });
    expect(claim.status).toBe(409);
    expect(JSON.stringify(claim.body)).toContain('repositories named acme/… already exist');
    // So carol gets nothing on acme/app.
    expect((await call('DELETE', '/api/repositories/acme/app', 'carol')).status).not.toBe(204);
    expect((await call('GET', '/api/orgs/acme', 'carol')).status).toBe(404);
    await expect(checkNamespaceClaim(server.ctx.db, 'acme')).rejects.toBeInstanceOf(HubError);

    // Only the repository's first component counts, exactly ('_' is no wildcard, case matters).
    await ensureRepository(server.ctx.db, 'axb/app');
    expect((await call('POST', '/api/orgs', 'carol', { name: 'a_b' })).status).toBe(201);
    await ensureRepository(server.ctx.db, 'tools');
    expect((await call('POST', '/api/orgs', 'carol', { name: 'tools' })).status).toBe(201);
    await expect(checkNamespaceClaim(server.ctx.db, 'fresh-name')).resolves.toBeUndefined();

    // An administrator may create it (accounts come after the repositories), and then owns it.
    const admin = await call('POST', '/api/orgs', 'admin', { name: 'acme' });
    expect(admin.status).toBe(201);
    expect((await call('PUT', '/api/orgs/acme/members/alice', 'admin', { role: 'owner' })).status).toBe(200);
    expect((await call('GET', '/api/repositories/acme/app', 'alice')).status).toBe(200);
  });

  it('reserves library and system names for administrators', async () => {
    for (const name of ['library', 'admin', 'api', 'v2', 'token']) expect(RESERVED_NAMESPACES.has(name)).toBe(true);
    const library = await call('POST', '/api/orgs', 'carol', { name: 'library' });
    expect(library.status).toBe(403);
    expect(JSON.stringify(library.body)).toContain('reserved');
    expect((await call('POST', '/api/orgs', 'carol', { name: 'v2' })).status).toBe(403);
    // carol cannot push library/x (pulled by everyone as x).
    const token = await app.inject({
      method: 'GET',
      url: '/token?service=wharf&scope=repository:library/x:pull,push',
      headers: basicOf('carol'),
    });
    const jwt = (token.json() as { token: string }).token;
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as {
      access: { name: string; actions: string[] }[];
    };
    expect(claims.access.find((a) => a.name === 'library/x')?.actions ?? []).not.toContain('push');
    // Administrators may.
    expect((await call('POST', '/api/orgs', 'admin', { name: 'library' })).status).toBe(201);
  });

  it('shows team permissions to members only on repositories they may pull; owners see all', async () => {
    expect((await call('POST', '/api/orgs', 'alice', { name: 'widgets' })).status).toBe(201);
    await ensureRepository(server.ctx.db, 'widgets/secret-plans');
    await setVisibility(server.ctx.db, 'widgets/secret-plans', 'private');
    await ensureRepository(server.ctx.db, 'widgets/public-app');
    expect((await call('PUT', '/api/orgs/widgets/members/bob', 'alice', { role: 'member' })).status).toBe(200);
    expect((await call('POST', '/api/orgs/widgets/teams', 'alice', { name: 'core' })).status).toBe(201);
    for (const repo of ['secret-plans', 'public-app']) {
      const res = await call('PUT', `/api/orgs/widgets/teams/core/permissions/${repo}`, 'alice', {
        permission: 'write',
      });
      expect(res.status).toBe(200);
    }
    const reposOf = (body: Record<string, unknown>) =>
      ((body.permissions ?? body.results) as { repository: string }[]).map((p) => p.repository);

    const bobTeams = await call('GET', '/api/orgs/widgets/teams', 'bob');
    expect(bobTeams.status).toBe(200);
    expect(JSON.stringify(bobTeams.body)).not.toContain('secret-plans');
    expect(reposOf((bobTeams.body.results as Record<string, unknown>[])[0] ?? {})).toEqual(['widgets/public-app']);
    expect(reposOf((await call('GET', '/api/orgs/widgets/teams/core', 'bob')).body)).toEqual(['widgets/public-app']);
    expect(reposOf((await call('GET', '/api/orgs/widgets/teams/core/permissions', 'bob')).body)).toEqual([
      'widgets/public-app',
    ]);

    const all = ['widgets/public-app', 'widgets/secret-plans'];
    const aliceTeams = await call('GET', '/api/orgs/widgets/teams', 'alice');
    expect(reposOf((aliceTeams.body.results as Record<string, unknown>[])[0] ?? {})).toEqual(all);
    expect(reposOf((await call('GET', '/api/orgs/widgets/teams/core/permissions', 'admin')).body)).toEqual(all);

    // A member of the team may pull the private repository: it is shown to them.
    expect((await call('PUT', '/api/orgs/widgets/teams/core/members/bob', 'alice')).status).toBe(200);
    expect(reposOf((await call('GET', '/api/orgs/widgets/teams/core', 'bob')).body)).toEqual(all);
  });

  it('audits a change of a team', async () => {
    const res = await call('PATCH', '/api/orgs/widgets/teams/core', 'alice', { description: 'the core team' });
    expect(res.status).toBe(200);
    const audit = await call('GET', '/api/orgs/widgets/audit?action=team.update', 'alice');
    expect(audit.status).toBe(200);
    const entries = audit.body.results as { action: string; target: string; actor: string; detail: unknown }[];
    expect(entries[0]).toMatchObject({ action: 'team.update', target: 'widgets/core', actor: 'alice' });
    expect(JSON.stringify(entries[0]?.detail)).toContain('the core team');
  });
});

describe('hub security review: web UI forms', () => {
  let server: WharfServer;
  let app: FastifyInstance;
  let cookie = '';
  let csrf = '';

  const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
  const cookiesOf = (res: { cookies: { name: string; value: string }[] }) =>
    res.cookies.map((c) => `${c.name}=${c.value}`).join('; ');
  async function post(url: string, fields: Record<string, string>) {
    const res = await app.inject({
      method: 'POST',
      url,
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ _csrf: csrf, ...fields }).toString(),
    });
    return { status: res.statusCode, body: res.body, res };
  }
  async function signIn(user: string) {
    const form = await app.inject({ method: 'GET', url: '/signin' });
    cookie = cookiesOf(form);
    csrf = csrfOf(form.body);
    const { res } = await post('/signin', { username: user, password: PASSWORDS[user] ?? '' });
    expect(res.statusCode).toBe(303);
    cookie = cookiesOf(res);
    csrf = csrfOf((await app.inject({ method: 'GET', url: '/settings', headers: { cookie } })).body);
    expect(csrf).not.toBe('');
  }
  const lastAudit = (action: string) =>
    server.ctx.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', action)
      .orderBy('id', 'desc')
      .executeTakeFirst();

  beforeAll(async () => {
    server = await hubServer(PASSWORDS, { accounts: ['alice', 'bob'] });
    app = server.app;
  });
  afterAll(() => server.close());

  it('/orgs/new refuses the name of existing repositories and reserved names', async () => {
    await ensureRepository(server.ctx.db, 'acme/app');
    await signIn('alice');
    const taken = await post('/orgs/new', { name: 'acme' });
    expect(taken.status).toBe(409);
    expect(taken.body).toContain('already exist');
    const reserved = await post('/orgs/new', { name: 'library' });
    expect(reserved.status).toBe(403);
    expect(reserved.body).toContain('reserved');
  });

  it('a token expiry beyond 3650 days is refused with a message, not a 500', async () => {
    await signIn('alice');
    for (const days of ['999999999999', '0', '3651', '1.5', 'abc']) {
      const res = await post('/settings/tokens', { name: `t${days}`, scope: 'read', expires_days: days });
      expect(res.status, days).toBe(400);
      expect(res.body).toContain('from 1 to 3650');
    }
    expect((await post('/settings/tokens', { name: 'ok', scope: 'read', expires_days: '3650' })).status).toBe(200);
    expect((await post('/settings/tokens', { name: 'never', scope: 'read', expires_days: '' })).status).toBe(200);
  });

  it('repository settings without a visibility field keep a private repository private', async () => {
    await ensureRepository(server.ctx.db, 'alice/secret');
    await setVisibility(server.ctx.db, 'alice/secret', 'private');
    await signIn('alice');
    const res = await post('/r/alice/secret/settings/general', { description: 'still private' });
    expect(res.status).toBe(303);
    const row = await server.ctx.db
      .selectFrom('repositories')
      .select(['visibility', 'description'])
      .where('name', '=', 'alice/secret')
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ visibility: 'private', description: 'still private' });
  });

  it('the UI audits collaborator removal as collaborator.remove and admin changes with their target', async () => {
    await signIn('alice');
    expect((await post('/r/alice/secret/settings/collaborators', { username: 'bob', permission: 'read' })).status).toBe(
      303,
    );
    expect(
      (await post('/r/alice/secret/settings/collaborators', { username: 'bob', permission: 'remove' })).status,
    ).toBe(303);
    expect(await lastAudit('collaborator.remove')).toMatchObject({ target: 'alice/secret' });
    expect(JSON.stringify((await lastAudit('collaborator.remove'))?.detail)).toContain('bob');

    await signIn('admin');
    expect((await post('/admin/plans', { name: 'team', private_repos: '5' })).status).toBe(303);
    expect(await lastAudit('plan.save')).toMatchObject({ target: 'team' });
    expect((await post('/admin/assign', { namespace: 'alice', plan: 'team' })).status).toBe(303);
    expect(await lastAudit('plan.assign')).toMatchObject({ target: 'alice' });
  });
});
