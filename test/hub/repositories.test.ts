// The hub API for repositories, stars, tags and search (issue 6), through a real server built in
// process (fastify.inject): creation within the plan, 404 for unknown and forbidden alike, stars
// feeding the search ranking, Docker Hub's tag list with per-platform images and shared sizes,
// and the plumbing (errors, pages, rate-limit headers, OpenAPI).
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WharfServer } from '../../src/server/app.js';
import { pushImage } from '../support/push.js';
import { hubServer, memoryServer } from '../support/server.js';

const PASSWORDS = { admin: 'admin-Secret-0', alice: 'alice-Secret-1', bob: 'bob-Secret-2' };
type User = keyof typeof PASSWORDS;
const basic = (user: User) => ({
  authorization: `Basic ${Buffer.from(`${user}:${PASSWORDS[user]}`).toString('base64')}`,
});

async function call(
  app: FastifyInstance,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  user?: User,
  body?: unknown,
) {
  const res = await app.inject({
    method,
    url,
    // Every API change is declared JSON, with a body or without (the API's CSRF guard).
    headers: { ...(user ? basic(user) : {}), ...(method !== 'GET' ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
  });
  return {
    status: res.statusCode,
    body: res.body ? (res.json() as Record<string, unknown>) : {},
    headers: res.headers,
  };
}

describe('hub API: repositories, stars, search (auth.mode token)', () => {
  let server: WharfServer;
  let app: FastifyInstance;

  beforeAll(async () => {
    server = await hubServer(PASSWORDS);
    app = server.app;
  });
  afterAll(() => server.close());

  it('creates a repository with descriptions; the second private one of a free namespace is refused with the plan message', async () => {
    const created = await call(app, 'POST', '/api/repositories/alice', 'alice', {
      name: 'secret-app',
      description: 'A private web application',
      full_description: '# Secret\nMarkdown here',
      is_private: true,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ namespace: 'alice', name: 'secret-app', is_private: true, star_count: 0 });

    const second = await call(app, 'POST', '/api/repositories/alice', 'alice', { name: 'second', is_private: true });
    expect(second.status).toBe(403);
    expect(second.body).toEqual({
      errors: [{ code: 'DENIED', message: 'the plan of alice allows 1 private repository' }],
    });
    // Public is fine, and switching it to private hits the same limit.
    expect((await call(app, 'POST', '/api/repositories/alice', 'alice', { name: 'second' })).status).toBe(201);
    const toPrivate = await call(app, 'PATCH', '/api/repositories/alice/second', 'alice', { is_private: true });
    expect(toPrivate.status).toBe(403);
    expect(JSON.stringify(toPrivate.body)).toContain('allows 1 private repository');

    expect((await call(app, 'POST', '/api/repositories/alice', 'alice', { name: 'second' })).status).toBe(409);
    const long = await call(app, 'POST', '/api/repositories/alice', 'alice', {
      name: 'x',
      description: 'd'.repeat(101),
    });
    expect(long.status).toBe(400);
    // Nobody creates in someone else's namespace (which looks like it does not exist).
    expect((await call(app, 'POST', '/api/repositories/alice', 'bob', { name: 'intruder' })).status).toBe(404);
    expect((await call(app, 'POST', '/api/repositories/alice', undefined, { name: 'anon' })).status).toBe(401);
  });

  it('a private repository is 404 for others, anonymous or signed in, exactly like an unknown one', async () => {
    const unknown = await call(app, 'GET', '/api/repositories/alice/does-not-exist', 'bob');
    const forbidden = await call(app, 'GET', '/api/repositories/alice/secret-app', 'bob');
    expect(forbidden.status).toBe(404);
    expect(forbidden.body).toEqual(unknown.body);
    expect((await call(app, 'GET', '/api/repositories/alice/secret-app')).status).toBe(404);
    expect((await call(app, 'PATCH', '/api/repositories/alice/secret-app', 'bob', { description: 'x' })).status).toBe(
      404,
    );
    expect((await call(app, 'DELETE', '/api/repositories/alice/secret-app', 'bob')).status).toBe(404);
    const own = await call(app, 'GET', '/api/repositories/alice/secret-app', 'alice');
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ full_description: '# Secret\nMarkdown here', permissions: { admin: true } });
    // The namespace listing hides it from others.
    const asBob = await call(app, 'GET', '/api/repositories/alice', 'bob');
    expect((asBob.body.results as { name: string }[]).map((r) => r.name)).toEqual(['second']);
    const asAlice = await call(app, 'GET', '/api/repositories/alice', 'alice');
    expect(asAlice.body.count).toBe(2);
  });

  it('stars count once per account and lift a repository in the search ranking', async () => {
    for (const name of ['tool-a', 'tool-b']) {
      expect(
        (await call(app, 'POST', '/api/repositories/bob', 'bob', { name, description: `the ${name} utility` })).status,
      ).toBe(201);
    }
    const before = await call(app, 'GET', '/api/search?query=tool');
    expect((before.body.results as { repo_name: string }[]).map((r) => r.repo_name)).toEqual([
      'bob/tool-a',
      'bob/tool-b',
    ]);
    expect((await call(app, 'POST', '/api/repositories/bob/tool-b/star', 'alice')).body).toEqual({
      star_count: 1,
      has_starred: true,
    });
    expect((await call(app, 'POST', '/api/repositories/bob/tool-b/star', 'alice')).body.star_count).toBe(1);
    expect((await call(app, 'POST', '/api/repositories/bob/tool-b/star', 'bob')).body.star_count).toBe(2);
    const after = await call(app, 'GET', '/api/search?query=tool');
    expect(after.body.results).toEqual([
      expect.objectContaining({ repo_name: 'bob/tool-b', star_count: 2, short_description: 'the tool-b utility' }),
      expect.objectContaining({ repo_name: 'bob/tool-a', star_count: 0 }),
    ]);
    // docker search's endpoint agrees.
    const v1 = await app.inject({ url: '/v1/search?q=tool' });
    expect((v1.json() as { results: unknown[] }).results[0]).toEqual({
      name: 'bob/tool-b',
      description: 'the tool-b utility',
      star_count: 2,
      is_official: false,
      is_automated: false,
    });
    expect((await call(app, 'DELETE', '/api/repositories/bob/tool-b/star', 'bob')).body.star_count).toBe(1);
    // Starring a repository one cannot see is 404.
    expect((await call(app, 'POST', '/api/repositories/alice/secret-app/star', 'bob')).status).toBe(404);
  });

  it('search: descriptions match, private results only for who may pull, filters and ordering', async () => {
    const byWords = await call(app, 'GET', '/api/search?query=web%20application', 'alice');
    expect((byWords.body.results as { repo_name: string }[]).map((r) => r.repo_name)).toEqual(['alice/secret-app']);
    expect((await call(app, 'GET', '/api/search?query=web%20application', 'bob')).body.count).toBe(0);
    expect((await call(app, 'GET', '/api/search?query=web%20application')).body.count).toBe(0);
    const privateOnly = await call(app, 'GET', '/api/search?is_private=true', 'alice');
    expect((privateOnly.body.results as { repo_name: string }[]).map((r) => r.repo_name)).toEqual(['alice/secret-app']);
    const byStars = await call(app, 'GET', '/api/search?query=tool&ordering=-star_count');
    expect((byStars.body.results as { repo_name: string }[])[0]?.repo_name).toBe('bob/tool-b');
    expect((await call(app, 'GET', '/api/search?ordering=sideways')).status).toBe(400);
  });

  it('official images: an official library/x is found first for x and shown as x', async () => {
    const db = server.ctx.db;
    expect(
      (await call(app, 'POST', '/api/repositories/bob', 'bob', { name: 'nginx-proxy', description: 'nginx in front' }))
        .status,
    ).toBe(201);
    // library is an admin's namespace; the official mark is an admin's act (H1's command).
    await db
      .insertInto('namespaces')
      .values({
        name: 'library',
        kind: 'org',
        account_id: null,
        plan_id: 1,
        default_visibility: 'public',
        full_name: 'Official images',
        created_at: new Date().toISOString(),
      })
      .execute();
    expect(
      (
        await call(app, 'POST', '/api/repositories/library', 'admin', {
          name: 'nginx',
          description: 'Official build of Nginx.',
        })
      ).status,
    ).toBe(201);
    await db.updateTable('repositories').set({ is_official: 1 }).where('name', '=', 'library/nginx').execute();
    const v1 = (await app.inject({ url: '/v1/search?q=nginx' })).json() as {
      results: { name: string; is_official: boolean }[];
    };
    expect(v1.results.map((r) => [r.name, r.is_official])).toEqual([
      ['nginx', true],
      ['bob/nginx-proxy', false],
    ]);
    const official = await call(app, 'GET', '/api/search?query=nginx&is_official=true');
    expect((official.body.results as { repo_name: string }[]).map((r) => r.repo_name)).toEqual(['nginx']);
  });

  it('deleting needs admin permission and takes the repository out of search; it is audited', async () => {
    // Public, so visible to alice: she is told no rather than not found.
    expect((await call(app, 'DELETE', '/api/repositories/bob/tool-a', 'alice')).status).toBe(403);
    expect((await call(app, 'DELETE', '/api/repositories/bob/tool-a', 'bob')).status).toBe(204);
    expect((await call(app, 'GET', '/api/repositories/bob/tool-a', 'bob')).status).toBe(404);
    expect((await call(app, 'GET', '/api/search?query=tool-a')).body.count).toBe(0);
    const logged = await server.ctx.db.selectFrom('audit_log').select(['action', 'target']).execute();
    expect(logged).toEqual(
      expect.arrayContaining([
        { action: 'repository.create', target: 'alice/secret-app' },
        { action: 'repository.delete', target: 'bob/tool-a' },
      ]),
    );
  });

  it('plumbing: one error shape, page envelope with links, rate-limit headers, OpenAPI document', async () => {
    const page = await call(app, 'GET', '/api/search?page_size=1&page=2');
    expect(page.body.previous).toMatch(/\/api\/search\?page_size=1&page=1$/);
    expect(page.body.next).toMatch(/page=3/);
    expect(Number(page.headers['x-ratelimit-limit'])).toBeGreaterThan(0);
    expect(Number(page.headers['x-ratelimit-remaining'])).toBeLessThan(Number(page.headers['x-ratelimit-limit']));
    expect(Number(page.headers['x-ratelimit-reset'])).toBeGreaterThan(Date.now() / 1000);
    expect((await call(app, 'GET', '/api/search?page_size=101')).body).toEqual({
      errors: [{ code: 'INVALID', message: 'page_size must be an integer from 1 to 100' }],
    });
    const wrong = await app.inject({
      url: '/api/search',
      headers: { authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` },
    });
    expect(wrong.statusCode).toBe(401);
    const doc = (await call(app, 'GET', '/api/openapi.json')).body as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/search',
        '/api/repositories/{namespace}/{repo}/tags',
        '/api/repositories/{namespace}',
      ]),
    );
  });
});

describe('hub API: tags in Docker Hub shape (auth.mode none, read-only)', () => {
  let server: WharfServer;
  beforeAll(async () => {
    server = await memoryServer();
    await pushImage(server.app, 'team/app', 'v1', { layers: ['base layer', 'app layer one'] });
    await pushImage(server.app, 'team/other', 'latest', { layers: ['base layer', 'other app layer'] });
  });
  afterAll(() => server.close());

  it('lists tags with digest, media type, per-platform images, full size and the size shared with other images', async () => {
    const res = await server.app.inject({ url: '/api/repositories/team/app/tags' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { count: number; results: Record<string, unknown>[] };
    expect(body.count).toBe(1);
    const tag = body.results[0] as {
      name: string;
      digest: string;
      full_size: number;
      shared_size: number;
      own_size: number;
      images: { architecture: string; os: string; size: number; digest: string }[];
    };
    expect(tag.name).toBe('v1');
    expect(tag.digest).toMatch(/^sha256:/);
    expect(tag.images).toEqual([expect.objectContaining({ architecture: 'amd64', os: 'linux', digest: tag.digest })]);
    expect(tag.full_size).toBe(tag.images[0]?.size);
    // The base layer is also in team/other: that much is shared, the rest is the tag's own.
    expect(tag.shared_size).toBe(Buffer.byteLength('base layer'));
    expect(tag.own_size).toBe(tag.full_size - tag.shared_size);
    expect((await server.app.inject({ url: '/api/repositories/team/app/tags/v1' })).statusCode).toBe(200);
    expect((await server.app.inject({ url: '/api/repositories/team/app/tags/nope' })).statusCode).toBe(404);
    // No accounts in this mode: changes are refused.
    const post = await server.app.inject({ method: 'POST', url: '/api/repositories/team', payload: { name: 'x' } });
    expect(post.statusCode).toBe(401);
  });
});
