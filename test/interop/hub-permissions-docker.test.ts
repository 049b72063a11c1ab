// Issue 6, "Must show" (H1): team and collaborator permissions, plans and access tokens as the
// real Docker engine meets them. Wharf in token mode (`wharf serve`), a private dockerd, one
// `docker login` per account: a `read` team member pulls but cannot push, a `write` member
// pushes, removal from the team takes effect with the next token; the second private repository
// of a free organization is refused on an implicit push; an access token works as the
// `docker login` password and, revoked, no longer does.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { commitLayer, type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { startWharf, type WharfProcess, wharfAdmin } from '../support/server.js';
import { interopDescribe } from '../support/tools.js';

const TIMEOUT = 180_000;
const PASSWORDS: Record<string, string> = { alice: 'alice-Secret-1', bob: 'bob-Secret-2', carol: 'carol-Secret-3' };
const TOKEN_ENV = { WHARF_AUTH_MODE: 'token', WHARF_ADMIN_PASSWORD: 'admin-Secret-0' };
const DENIED = 'denied: requested access to the resource is denied';

interopDescribe('hub permissions with the real Docker engine', ['dockerd', 'docker', 'busybox'], () => {
  let d: Dockerd;
  let wharf: WharfProcess;
  const opts = { timeoutMs: TIMEOUT };
  const ref = (name: string) => `${wharf.host}/${name}`;

  async function api(user: string, method: string, path: string, body?: unknown) {
    const res = await fetch(`${wharf.url}/api${path}`, {
      method,
      headers: {
        authorization: `Basic ${Buffer.from(`${user}:${PASSWORDS[user]}`).toString('base64')}`,
        ...(method !== 'GET' ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  }

  async function loginAs(user: string, password = PASSWORDS[user] ?? '') {
    await d.docker(['logout', wharf.host], opts);
    return d.docker(['login', wharf.host, '-u', user, '--password-stdin'], { ...opts, input: `${password}\n` });
  }

  async function push(local: string, name: string) {
    await d.dockerOk(['tag', local, ref(name)], opts);
    return d.docker(['push', ref(name)], opts);
  }

  beforeAll(async () => {
    [d, wharf] = await Promise.all([startDockerd(), startWharf({ env: TOKEN_ENV })]);
    for (const user of ['alice', 'bob', 'carol']) {
      await wharfAdmin(['user', 'add', user, '--password-stdin', '--data', wharf.dataDir], `${PASSWORDS[user]}\n`);
    }
    await makeBusyboxImage(d, 'hub-base:1');
    await commitLayer(d, 'hub-base:1', 'hub-app:1', 'etc/hub/app.txt', 'app\n');
    await commitLayer(d, 'hub-base:1', 'hub-app:2', 'etc/hub/app.txt', 'app 2\n');
  }, TIMEOUT);

  afterAll(async () => {
    await Promise.all([d?.stop(), wharf?.cleanup()]);
  }, TIMEOUT);

  it(
    'an organization owner pushes a private repository; the second private one is refused by the plan',
    async () => {
      expect((await api('alice', 'POST', '/orgs', { name: 'acme' })).status).toBe(201);
      expect((await api('alice', 'PATCH', '/orgs/acme', { default_visibility: 'private' })).status).toBe(200);
      const login = await loginAs('alice');
      expect(login.code, login.stderr).toBe(0);
      const first = await push('hub-app:1', 'acme/app:1');
      expect(first.code, first.stderr).toBe(0);
      const repo = await api('alice', 'GET', '/repositories/acme/app');
      expect(repo.body).toMatchObject({ is_private: true });

      const second = await push('hub-app:1', 'acme/second:1');
      expect(second.code).not.toBe(0);
      expect(second.stderr).toContain(DENIED);
      // Docker cannot show why; the server log and the audit log say it.
      expect(wharf.log()).toContain('the plan of acme allows 1 private repository');
      const audit = await api('alice', 'GET', '/orgs/acme/audit?action=push.refused');
      // One entry per token request Docker made for the push (it asks again per layer).
      const refused = audit.body.results as { actor: string; target: string; detail: { reason: string } }[];
      expect(refused.length).toBeGreaterThan(0);
      for (const e of refused)
        expect(e).toMatchObject({
          actor: 'alice',
          target: 'acme/second',
          detail: { reason: 'the plan of acme allows 1 private repository' },
        });
    },
    TIMEOUT,
  );

  it(
    'a read team member pulls but cannot push; a write member pushes; removal takes effect with the next token',
    async () => {
      for (const [team, user, permission] of [
        ['readers', 'bob', 'read'],
        ['writers', 'carol', 'write'],
      ] as const) {
        expect((await api('alice', 'POST', '/orgs/acme/teams', { name: team })).status).toBe(201);
        expect((await api('alice', 'PUT', `/orgs/acme/teams/${team}/members/${user}`)).status).toBe(200);
        expect((await api('alice', 'PUT', `/orgs/acme/teams/${team}/permissions/app`, { permission })).status).toBe(
          200,
        );
      }

      expect((await loginAs('bob')).code).toBe(0);
      await d.dockerOk(['rmi', ref('acme/app:1')], opts);
      const pulled = await d.docker(['pull', ref('acme/app:1')], opts);
      expect(pulled.code, pulled.stderr).toBe(0);
      const bobPush = await push('hub-app:2', 'acme/app:2');
      expect(bobPush.code).not.toBe(0);
      expect(bobPush.stderr).toContain(DENIED);

      expect((await loginAs('carol')).code).toBe(0);
      const carolPush = await push('hub-app:2', 'acme/app:2');
      expect(carolPush.code, carolPush.stderr).toBe(0);

      // Still logged in as carol: the next push asks for a new token, which no longer grants push.
      expect((await api('alice', 'DELETE', '/orgs/acme/teams/writers/members/carol')).status).toBe(204);
      const after = await push('hub-app:1', 'acme/app:3');
      expect(after.code).not.toBe(0);
      expect(after.stderr).toContain(DENIED);
      const audit = await api('alice', 'GET', '/orgs/acme/audit?page_size=100');
      const actions = (audit.body.results as { action: string }[]).map((e) => e.action);
      expect(actions).toEqual(expect.arrayContaining(['team.permission', 'team.member.add', 'team.member.remove']));
    },
    TIMEOUT,
  );

  it(
    'a collaborator with write pushes to a user repository',
    async () => {
      expect((await loginAs('alice')).code).toBe(0);
      expect((await push('hub-app:1', 'alice/tool:1')).code).toBe(0);
      expect((await loginAs('bob')).code).toBe(0);
      expect((await push('hub-app:2', 'alice/tool:2')).stderr).toContain(DENIED);
      expect(
        (await api('alice', 'PUT', '/repositories/alice/tool/collaborators/bob', { permission: 'write' })).status,
      ).toBe(200);
      const pushed = await push('hub-app:2', 'alice/tool:2');
      expect(pushed.code, pushed.stderr).toBe(0);
    },
    TIMEOUT,
  );

  it(
    'an access token is a docker login password; revoked, it no longer logs in nor pushes',
    async () => {
      const created = await api('alice', 'POST', '/access-tokens', { token_label: 'laptop', scope: 'read-write' });
      expect(created.status).toBe(201);
      const secret = created.body.token as string;
      const login = await loginAs('alice', secret);
      expect(login.code, login.stderr).toBe(0);
      expect(login.stdout).toContain('Login Succeeded');
      const pushed = await push('hub-app:2', 'alice/tool:3');
      expect(pushed.code, pushed.stderr).toBe(0);

      expect((await api('alice', 'DELETE', `/access-tokens/${created.body.id}`)).status).toBe(204);
      // The login made with it dies with it (docker keeps a refresh token born from the access token).
      const afterRevoke = await push('hub-app:1', 'alice/tool:4');
      expect(afterRevoke.code).not.toBe(0);
      const again = await loginAs('alice', secret);
      expect(again.code).not.toBe(0);
      expect(again.stderr).toContain('unauthorized: incorrect username or password');

      const read = await api('alice', 'POST', '/access-tokens', { token_label: 'ro', scope: 'read' });
      expect((await loginAs('alice', read.body.token as string)).code).toBe(0);
      await d.dockerOk(['rmi', ref('alice/tool:3')], opts);
      expect((await d.docker(['pull', ref('alice/tool:3')], opts)).code).toBe(0);
      expect((await push('hub-app:1', 'alice/tool:5')).stderr).toContain(DENIED);

      const audit = await fetch(`${wharf.url}/api/audit?page_size=100`, {
        headers: { authorization: `Basic ${Buffer.from('admin:admin-Secret-0').toString('base64')}` },
      });
      const actions = ((await audit.json()) as { results: { action: string }[] }).results.map((e) => e.action);
      expect(actions).toEqual(
        expect.arrayContaining([
          'login',
          'login.failed',
          'token.create',
          'token.revoke',
          'collaborator.set',
          'push.refused',
        ]),
      );
    },
    TIMEOUT,
  );
});
