// The v1 index endpoints of `docker search` (hub-and-engine.md §1.1–1.2): /v1/_ping and
// /v1/search — Docker's JSON, the ranking, n and page, and which repositories each caller sees.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/passwords.js';
import { createAccount, findAccount, updateAccount } from '../../src/metadata/accounts.js';
import { ensureRepository, setGrant } from '../../src/metadata/repositories.js';
import type { WharfServer } from '../../src/server/app.js';
import { pushImage } from '../support/push.js';
import { memoryServer } from '../support/server.js';
import { removeTmpDir, tmpDir } from '../support/tools.js';

interface SearchBody {
  query: string;
  num_results: number;
  num_pages: number;
  page: number;
  page_size: number;
  results: { name: string; description: string; star_count: number; is_official: boolean; is_automated: boolean }[];
}

async function search(
  app: FastifyInstance,
  query: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: SearchBody; names: string[] }> {
  const res = await app.inject({ method: 'GET', url: `/v1/search?${query}`, headers });
  const body = res.json() as SearchBody;
  return { status: res.statusCode, body, names: (body.results ?? []).map((r) => r.name) };
}

const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

describe('/v1/search without access control (auth.mode none)', () => {
  let server: WharfServer;

  beforeAll(async () => {
    server = await memoryServer();
    // Real pushes: a repository exists once something was pushed to it.
    for (const repo of ['tools/busybox-extra', 'busybox', 'mybusybox', 'library/busybox', 'alpine', 'busy_box/x']) {
      await pushImage(server.app, repo, 'latest');
    }
  });
  afterAll(() => server.close());

  it("answers Docker's JSON ranked: exact name, then the name's last component, then by match quality", async () => {
    const { status, body } = await search(server.app, 'q=busybox&n=25');
    expect(status).toBe(200);
    expect(body).toEqual({
      query: 'busybox',
      num_results: 4,
      num_pages: 1,
      page: 1,
      page_size: 25,
      // A name component starting with the word (busybox-extra) beats a mere substring (mybusybox).
      results: ['busybox', 'library/busybox', 'tools/busybox-extra', 'mybusybox'].map((name) => ({
        name,
        description: '',
        star_count: 0,
        is_official: false,
        is_automated: false,
      })),
    });
  });

  it('matches case-insensitively, substrings of names and words as prefixes, LIKE wildcards literally', async () => {
    expect((await search(server.app, 'q=BusyBox')).names).toEqual([
      'busybox',
      'library/busybox',
      'tools/busybox-extra',
      'mybusybox',
    ]);
    expect((await search(server.app, 'q=extra')).names).toEqual(['tools/busybox-extra']);
    // `busy_` is the substring of one name, and the word `busy` (a prefix of busybox) in others.
    expect((await search(server.app, 'q=busy_')).names[0]).toBe('busy_box/x');
    expect((await search(server.app, 'q=%25')).names).toEqual([]);
    expect((await search(server.app, 'q=nothing-like-this')).body.num_results).toBe(0);
  });

  it('an empty query lists every repository; n defaults to 25', async () => {
    const { body } = await search(server.app, 'q=');
    expect(body.page_size).toBe(25);
    expect(body.num_results).toBe(6);
    expect(body.results).toHaveLength(6);
  });

  it('n and page cut the ranked list into pages', async () => {
    const first = await search(server.app, 'q=busybox&n=3');
    expect(first.names).toEqual(['busybox', 'library/busybox', 'tools/busybox-extra']);
    expect(first.body).toMatchObject({ num_results: 4, num_pages: 2, page: 1, page_size: 3 });
    const second = await search(server.app, 'q=busybox&n=3&page=2');
    expect(second.names).toEqual(['mybusybox']);
    expect(second.body).toMatchObject({ num_results: 4, num_pages: 2, page: 2 });
  });

  it('refuses n outside 1..100, a bad page and an overlong query with 400 and a clear error', async () => {
    for (const q of ['q=a&n=0', 'q=a&n=101', 'q=a&n=-1', 'q=a&n=ten', 'q=a&page=0', 'q=a&page=x']) {
      const res = await server.app.inject({ method: 'GET', url: `/v1/search?${q}` });
      expect(res.statusCode, q).toBe(400);
      expect((res.json() as { error: string }).error).toMatch(/^(n|page) must be an integer from 1 to/);
    }
    expect((await search(server.app, 'q=a&n=100')).status).toBe(200);
    const long = await server.app.inject({ method: 'GET', url: `/v1/search?q=${'a'.repeat(256)}` });
    expect(long.statusCode).toBe(400);
    expect(long.json()).toEqual({ error: 'search query is longer than 255 characters' });
    expect((await search(server.app, `q=${'a'.repeat(255)}`)).status).toBe(200);
  });

  it('/v1/_ping says the index is standalone', async () => {
    const ping = await server.app.inject({ method: 'GET', url: '/v1/_ping' });
    expect(ping.statusCode).toBe(200);
    expect(ping.headers['x-docker-registry-standalone']).toBe('true');
    expect(ping.json()).toEqual({ standalone: true });
  });
});

describe('/v1/search with access control (auth.mode token)', () => {
  let server: WharfServer;
  const PASSWORDS = { admin: 'admin-Secret-0', alice: 'alice-Secret-1', bob: 'bob-Secret-2' };

  async function token(user: keyof typeof PASSWORDS): Promise<string> {
    const res = await server.app.inject({
      method: 'GET',
      url: '/token?service=wharf&scope=registry:catalog:search',
      headers: basic(user, PASSWORDS[user]),
    });
    expect(res.statusCode).toBe(200);
    return (res.json() as { token: string }).token;
  }

  beforeAll(async () => {
    server = await memoryServer({ WHARF_AUTH_MODE: 'token' });
    const db = server.ctx.db;
    await updateAccount(db, 'admin', { passwordHash: await hashPassword(PASSWORDS.admin) });
    for (const user of ['alice', 'bob'] as const) {
      await createAccount(db, { username: user, passwordHash: await hashPassword(PASSWORDS[user]) });
    }
    await ensureRepository(db, 'alice/app-public', 'public');
    await ensureRepository(db, 'alice/app-private', 'private');
    await ensureRepository(db, 'bob/app-private', 'private');
    const shared = await ensureRepository(db, 'bob/app-shared', 'private');
    const alice = await findAccount(db, 'alice');
    await setGrant(db, shared, alice?.id as number, ['pull']);
  });
  afterAll(() => server.close());

  it('anonymous callers see public repositories only', async () => {
    const { status, names } = await search(server.app, 'q=app');
    expect(status).toBe(200);
    expect(names).toEqual(['alice/app-public']);
  });

  it('with a Bearer token from /token, an account sees its own, granted and public repositories', async () => {
    expect((await search(server.app, 'q=app', { authorization: `Bearer ${await token('alice')}` })).names).toEqual([
      'alice/app-private',
      'alice/app-public',
      'bob/app-shared',
    ]);
    expect((await search(server.app, 'q=app', { authorization: `Bearer ${await token('bob')}` })).names).toEqual([
      'alice/app-public',
      'bob/app-private',
      'bob/app-shared',
    ]);
    expect((await search(server.app, 'q=app', { authorization: `Bearer ${await token('admin')}` })).names).toEqual([
      'alice/app-private',
      'alice/app-public',
      'bob/app-private',
      'bob/app-shared',
    ]);
  });

  it('with Basic credentials (account and password), the same as with a token', async () => {
    const { names } = await search(server.app, 'q=app', basic('alice', PASSWORDS.alice));
    expect(names).toEqual(['alice/app-private', 'alice/app-public', 'bob/app-shared']);
    // num_results counts only what the caller may see: nothing private leaks through it.
    expect((await search(server.app, 'q=private')).body.num_results).toBe(0);
  });

  it('a wrong password or a forged token is refused with 401, not answered anonymously', async () => {
    const wrong = await server.app.inject({
      method: 'GET',
      url: '/v1/search?q=app',
      headers: basic('alice', 'not-the-password'),
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toEqual({ error: 'incorrect username or password' });
    const forged = await server.app.inject({
      method: 'GET',
      url: '/v1/search?q=app',
      headers: { authorization: 'Bearer not.a.token' },
    });
    expect(forged.statusCode).toBe(401);
    expect(forged.headers['www-authenticate']).toMatch(
      /^Bearer realm=".*\/token",service="wharf",error="invalid_token"$/,
    );
  });
});

describe('/v1/search with auth.mode htpasswd', () => {
  let server: WharfServer;
  let dir: string;

  beforeAll(async () => {
    dir = await tmpDir('wharf-search-htpasswd-');
    const file = join(dir, 'htpasswd');
    await writeFile(file, `alice:${bcrypt.hashSync('alice-pw-1', 10)}\n`);
    server = await memoryServer({ WHARF_AUTH_MODE: 'htpasswd', WHARF_AUTH_HTPASSWD_FILE: file });
    await ensureRepository(server.ctx.db, 'team/app', 'private');
    await ensureRepository(server.ctx.db, 'team/web', 'public');
  });
  afterAll(async () => {
    await server?.close();
    if (dir) await removeTmpDir(dir);
  });

  it('a valid user sees every repository (as with /v2); no or wrong credentials are 401', async () => {
    expect((await search(server.app, 'q=team', basic('alice', 'alice-pw-1'))).names).toEqual(['team/app', 'team/web']);
    const anonymous = await server.app.inject({ method: 'GET', url: '/v1/search?q=team' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Basic realm="wharf"');
    const wrong = await server.app.inject({ method: 'GET', url: '/v1/search?q=team', headers: basic('alice', 'nope') });
    expect(wrong.statusCode).toBe(401);
  });
});
