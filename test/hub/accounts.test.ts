// Issue 6, H1: namespaces, organizations, teams, collaborators, plans, access tokens, the audit
// log, and what they mean for the registry's token endpoint (the actions a docker client gets).
// A real server built in process (fastify.inject), token mode.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/metadata/accounts.js';
import { ensureRepository, setVisibility } from '../../src/metadata/repositories.js';
import type { WharfServer } from '../../src/server/app.js';
import { hubServer, openDataDirDb, wharfAdmin } from '../support/server.js';
import { removeTmpDir, tmpDir } from '../support/tools.js';

const PASSWORDS: Record<string, string> = {
  admin: 'admin-Secret-0',
  alice: 'alice-Secret-1',
  bob: 'bob-Secret-2',
  carol: 'carol-Secret-3',
};
const basicOf = (user: string, password = PASSWORDS[user] ?? '') => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

describe('hub accounts, organizations and permissions (auth.mode token)', () => {
  let server: WharfServer;
  let app: FastifyInstance;

  async function call(method: Method, url: string, auth?: string | Record<string, string>, body?: unknown) {
    const headers: Record<string, string> = typeof auth === 'string' ? basicOf(auth) : (auth ?? {});
    if (method !== 'GET') headers['content-type'] = 'application/json';
    const res = await app.inject({
      method,
      url,
      headers,
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    return { status: res.statusCode, body: (res.body ? res.json() : {}) as Record<string, unknown> };
  }

  /** The actions the token endpoint grants on `repo` (what docker would get). */
  async function granted(auth: Record<string, string> | undefined, repo: string): Promise<string[] | number> {
    const res = await app.inject({
      method: 'GET',
      url: `/token?service=wharf&scope=repository:${repo}:pull,push,delete`,
      headers: auth ?? {},
    });
    if (res.statusCode !== 200) return res.statusCode;
    const jwt = (res.json() as { token: string }).token;
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as {
      access: { name: string; actions: string[] }[];
    };
    return (claims.access.find((a) => a.name === repo)?.actions ?? []).sort();
  }
  const grantsOf = (user: string, repo: string) => granted(basicOf(user), repo);

  beforeAll(async () => {
    server = await hubServer(PASSWORDS);
    app = server.app;
  });
  afterAll(() => server.close());

  it('every new account has its namespace; users and organizations share one name space', async () => {
    const alice = await call('GET', '/api/users/alice');
    expect(alice.status).toBe(200);
    expect(alice.body).toMatchObject({ username: 'alice', type: 'User' });
    expect((await call('GET', '/api/users/nobody')).status).toBe(404);

    const clash = await call('POST', '/api/orgs', 'alice', { name: 'bob' });
    expect(clash.status).toBe(409);
    expect(JSON.stringify(clash.body)).toContain('already taken');

    const org = await call('POST', '/api/orgs', 'alice', { name: 'acme', full_name: 'Acme Inc.' });
    expect(org.status).toBe(201);
    expect(org.body).toMatchObject({ orgname: 'acme', full_name: 'Acme Inc.', type: 'Organization' });
    await expect(
      createAccount(server.ctx.db, { username: 'acme', passwordHash: 'x' }),
      'an account cannot take an organization name',
    ).rejects.toThrow(/already taken/);
    const members = await call('GET', '/api/orgs/acme/members', 'alice');
    expect(members.body.results).toEqual([expect.objectContaining({ username: 'alice', role: 'owner' })]);
    // Members-only views look the same as an unknown organization to outsiders.
    expect((await call('GET', '/api/orgs/acme/members', 'bob')).status).toBe(404);
    // Only owners change the organization.
    expect((await call('POST', '/api/orgs/acme/teams', 'bob', { name: 'x' })).status).toBe(404);
  });

  it('team permissions become registry actions: read pulls, write pushes, admin deletes; removal shows in the next token', async () => {
    const db = server.ctx.db;
    await ensureRepository(db, 'acme/app');
    await setVisibility(db, 'acme/app', 'private');
    expect(await grantsOf('alice', 'acme/app')).toEqual(['delete', 'pull', 'push']);
    expect(await grantsOf('bob', 'acme/app')).toEqual([]);

    expect((await call('POST', '/api/orgs/acme/teams', 'alice', { name: 'readers' })).status).toBe(201);
    expect((await call('POST', '/api/orgs/acme/teams', 'alice', { name: 'writers' })).status).toBe(201);
    expect((await call('PUT', '/api/orgs/acme/teams/readers/members/bob', 'alice')).status).toBe(200);
    expect((await call('PUT', '/api/orgs/acme/teams/writers/members/carol', 'alice')).status).toBe(200);
    const bad = await call('PUT', '/api/orgs/acme/teams/readers/permissions/app', 'alice', { permission: 'owner' });
    expect(bad.status).toBe(400);
    expect(
      (await call('PUT', '/api/orgs/acme/teams/readers/permissions/app', 'alice', { permission: 'read' })).status,
    ).toBe(200);
    expect(
      (await call('PUT', '/api/orgs/acme/teams/writers/permissions/app', 'alice', { permission: 'write' })).status,
    ).toBe(200);
    expect(await grantsOf('bob', 'acme/app')).toEqual(['pull']);
    expect(await grantsOf('carol', 'acme/app')).toEqual(['pull', 'push']);
    // The private repository shows in the search of team members only.
    const names = async (user: string) => JSON.stringify((await call('GET', '/api/search?query=app', user)).body);
    expect(await names('bob')).toContain('acme/app');
    expect(await names('carol')).toContain('acme/app');
    expect(await names('admin')).toContain('acme/app');
    expect((await call('GET', '/api/repositories/acme/app', 'bob')).status).toBe(200);
    // Team members became organization members and now see the member views.
    expect((await call('GET', '/api/orgs/acme/teams/writers', 'bob')).body).toMatchObject({
      members: ['carol'],
      permissions: [{ repository: 'acme/app', permission: 'write' }],
    });
    // A member is not an owner: no new repositories in the organization by push.
    expect(await grantsOf('carol', 'acme/new')).toEqual([]);

    await call('PUT', '/api/orgs/acme/teams/writers/permissions/app', 'alice', { permission: 'admin' });
    expect(await grantsOf('carol', 'acme/app')).toEqual(['delete', 'pull', 'push']);
    expect((await call('DELETE', '/api/orgs/acme/teams/writers/members/carol', 'alice')).status).toBe(204);
    expect(await grantsOf('carol', 'acme/app')).toEqual([]);
    expect(await names('carol')).not.toContain('acme/app');
    expect((await call('GET', '/api/repositories/acme/app', 'carol')).status).toBe(404);
    // Owners are everything in the organization, also for new repositories.
    await call('PUT', '/api/orgs/acme/members/bob', 'alice', { role: 'owner' });
    expect(await grantsOf('bob', 'acme/new')).toEqual(['delete', 'pull', 'push']);
    expect((await call('DELETE', '/api/orgs/acme/members/bob', 'alice')).status).toBe(204);
    expect(await grantsOf('bob', 'acme/app'), 'removed from the organization and its teams').toEqual([]);
    const last = await call('DELETE', '/api/orgs/acme/members/alice', 'alice');
    expect(last.status).toBe(409);
  });

  it('collaborators on a user repository, managed by its owner only', async () => {
    const db = server.ctx.db;
    await ensureRepository(db, 'alice/tool');
    await setVisibility(db, 'alice/tool', 'private');
    expect(
      (await call('PUT', '/api/repositories/alice/tool/collaborators/bob', 'bob', { permission: 'admin' })).status,
    ).toBe(404);
    const put = await call('PUT', '/api/repositories/alice/tool/collaborators/bob', 'alice', { permission: 'write' });
    expect(put.status).toBe(200);
    expect(await grantsOf('bob', 'alice/tool')).toEqual(['pull', 'push']);
    const list = await call('GET', '/api/repositories/alice/tool/collaborators', 'alice');
    expect(list.body.results).toEqual([expect.objectContaining({ username: 'bob', permission: 'write' })]);
    // A write collaborator may not manage collaborators.
    expect((await call('GET', '/api/repositories/alice/tool/collaborators', 'bob')).status).toBe(403);
    expect((await call('DELETE', '/api/repositories/alice/tool/collaborators/bob', 'alice')).status).toBe(204);
    expect(await grantsOf('bob', 'alice/tool')).toEqual([]);
  });

  it('the plan limits private repositories: an implicit push into a private-by-default namespace is refused when it is full, and a bigger plan lifts it', async () => {
    // carol's namespace makes new repositories private; the free plan allows one.
    const setting = await call('PATCH', '/api/user', 'carol', { default_visibility: 'private' });
    expect(setting.body).toMatchObject({ username: 'carol', default_visibility: 'private' });
    expect(await grantsOf('carol', 'carol/one')).toEqual(['delete', 'pull', 'push']);
    expect(await ensureRepository(server.ctx.db, 'carol/one')).toBeGreaterThan(0);
    const one = await server.ctx.db
      .selectFrom('repositories')
      .select('visibility')
      .where('name', '=', 'carol/one')
      .executeTakeFirstOrThrow();
    expect(one.visibility).toBe('private');
    expect(await grantsOf('carol', 'carol/two'), 'second private repository refused').toEqual(['pull']);
    expect(await grantsOf('carol', 'carol/one'), 'the existing one stays writable').toEqual(['delete', 'pull', 'push']);
    const refused = await call('GET', '/api/audit?action=push.refused', 'admin');
    expect(refused.body.results).toEqual([
      expect.objectContaining({
        actor: 'carol',
        target: 'carol/two',
        detail: expect.objectContaining({ reason: 'the plan of carol allows 1 private repository' }),
      }),
    ]);

    expect((await call('GET', '/api/plans', 'alice')).status).toBe(404);
    expect((await call('PUT', '/api/plans/team', 'admin', { private_repos: 5 })).status).toBe(200);
    const assigned = await call('PUT', '/api/namespaces/carol/plan', 'admin', { plan: 'team' });
    expect(assigned.body).toEqual({ plan: 'team', private_repos: 5, private_repos_used: 1 });
    expect(await grantsOf('carol', 'carol/two')).toEqual(['delete', 'pull', 'push']);
    // Shrinking loses nothing: the repository stays, new ones are refused.
    await call('PUT', '/api/plans/team', 'admin', { private_repos: 0 });
    expect((await call('GET', '/api/namespaces/carol/plan', 'admin')).body).toMatchObject({
      private_repos: 0,
      private_repos_used: 1,
    });
    expect(await grantsOf('carol', 'carol/one')).toEqual(['delete', 'pull', 'push']);
    expect(await grantsOf('carol', 'carol/three')).toEqual(['pull']);
  });

  it('access tokens: the secret once, usable as a password for /token and the API within their scope, revocable', async () => {
    const created = await call('POST', '/api/access-tokens', 'alice', { token_label: 'ci', scope: 'read' });
    expect(created.status).toBe(201);
    const secret = created.body.token as string;
    expect(secret).toMatch(/^wharf_pat_[A-Za-z0-9_-]{30,}$/);
    const listed = await call('GET', '/api/access-tokens', 'alice');
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    expect(listed.body.results).toEqual([
      expect.objectContaining({ token_label: 'ci', scope: 'read', is_active: true, last_used: null }),
    ]);

    // docker login: Basic with the token as the password; a read token grants pull only.
    expect(await granted(basicOf('alice', secret), 'alice/tool')).toEqual(['pull']);
    expect(await granted(basicOf('bob', secret), 'alice/tool'), 'someone else’s name').toBe(401);
    // The API with it, Bearer or Basic: reading works, changing does not.
    expect((await call('GET', '/api/user', { authorization: `Bearer ${secret}` })).body).toMatchObject({
      username: 'alice',
      credential: { via: 'access-token', scope: 'read' },
    });
    expect((await call('POST', '/api/orgs', { authorization: `Bearer ${secret}` }, { name: 'viaread' })).status).toBe(
      403,
    );
    expect(((await call('GET', '/api/access-tokens/1', 'alice')).body.last_used as string | null) ?? '').not.toBe('');

    const rw = await call('POST', '/api/access-tokens', 'alice', {
      token_label: 'push',
      scope: 'read-write',
      expires_in_days: 30,
    });
    const rwSecret = rw.body.token as string;
    expect(await granted(basicOf('alice', rwSecret), 'alice/tool')).toEqual(['pull', 'push']);

    // An offline login (docker login) with the token: the refresh token dies with it.
    const form = new URLSearchParams({
      grant_type: 'password',
      username: 'alice',
      password: rwSecret,
      access_type: 'offline',
      client_id: 'docker',
      scope: 'repository:alice/tool:pull,push',
    });
    const login = await app.inject({
      method: 'POST',
      url: '/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: form.toString(),
    });
    expect(login.statusCode).toBe(200);
    const refresh = (login.json() as { refresh_token: string }).refresh_token;
    const refreshWith = () =>
      app.inject({
        method: 'POST',
        url: '/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: refresh,
          client_id: 'docker',
          scope: 'repository:alice/tool:pull,push,delete',
        }).toString(),
      });
    const before = await refreshWith();
    expect(before.statusCode).toBe(200);
    expect((before.json() as { scope: string }).scope, 'still no delete').toBe('repository:alice/tool:pull,push');

    expect((await call('DELETE', `/api/access-tokens/${rw.body.id}`, 'alice')).status).toBe(204);
    expect(await granted(basicOf('alice', rwSecret), 'alice/tool')).toBe(401);
    expect((await refreshWith()).statusCode).toBe(401);
    expect((await call('GET', '/api/user', { authorization: `Bearer ${rwSecret}` })).status).toBe(401);
    // Managing tokens needs more than a read token.
    expect((await call('GET', '/api/access-tokens', { authorization: `Bearer ${secret}` })).status).toBe(403);
  });

  it('the audit log records logins, tokens and permission changes; organization owners see their organization’s part', async () => {
    await granted(basicOf('bob', 'wrong-password'), 'bob/x');
    const all = await call('GET', '/api/audit?page_size=100', 'admin');
    const actions = (all.body.results as { action: string; actor: string | null; target: string }[]).map(
      (e) => `${e.action} ${e.actor ?? '-'} ${e.target}`,
    );
    expect(actions).toEqual(
      expect.arrayContaining([
        'login alice alice',
        'login.failed bob bob',
        'org.create alice acme',
        'team.permission alice acme/app',
        'team.member.remove alice acme/writers',
        'collaborator.set alice alice/tool',
        'collaborator.remove alice alice/tool',
        'token.create alice ci',
        'token.revoke alice push',
        'plan.assign admin carol',
      ]),
    );
    expect((await call('GET', '/api/audit', 'alice')).status).toBe(404);
    const org = await call('GET', '/api/orgs/acme/audit?page_size=100', 'alice');
    expect(org.status).toBe(200);
    const orgActions = (org.body.results as { action: string }[]).map((e) => e.action);
    expect(orgActions).toContain('team.permission');
    expect(orgActions).not.toContain('token.create');
    // A plain member is told no; an outsider cannot tell the organization's audit log exists.
    expect((await call('GET', '/api/orgs/acme/audit', 'carol')).status).toBe(403);
    expect((await call('GET', '/api/orgs/acme/audit', 'bob')).status).toBe(404);
  });
});

describe('admin commands: wharf user plan, wharf repo official', () => {
  it('puts a namespace on a plan (creating it) and marks a repository official, both audited', async () => {
    const dir = await tmpDir('wharf-h1-cli-');
    try {
      await wharfAdmin(['user', 'add', 'zed', '--password-stdin', '--data', dir], 'zed-Secret-1\n');
      const db = await openDataDirDb(dir);
      await ensureRepository(db, 'zed/app');
      await db.destroy();
      expect(await wharfAdmin(['user', 'plan', 'zed', 'pro', '--private-repos', '10', '--data', dir])).toBe(
        'zed: plan pro, 0 of 10 private repositories\n',
      );
      await expect(wharfAdmin(['user', 'plan', 'zed', 'nope', '--data', dir])).rejects.toThrow(/no plan named "nope"/);
      await wharfAdmin(['repo', 'official', 'zed/app', 'on', '--data', dir]);
      const check = await openDataDirDb(dir);
      const repo = await check
        .selectFrom('repositories')
        .select('is_official')
        .where('name', '=', 'zed/app')
        .executeTakeFirstOrThrow();
      const actions = (await check.selectFrom('audit_log').select('action').execute()).map((r) => r.action);
      await check.destroy();
      expect(repo.is_official).toBe(1);
      expect(actions).toEqual(['plan.assign', 'repository.official']);
    } finally {
      await removeTmpDir(dir);
    }
  });
});
