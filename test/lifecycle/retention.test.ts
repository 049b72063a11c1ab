// Retention policies (issue 11, "Must show"): "keep the 3 newest tags" on a repository with 10
// tags removes 7 at the next run, and the dry run first shows the same 7; every removal has an
// audit entry and a `delete` event (the repository webhook's queued delivery). Also the rules'
// semantics (protect, keep patterns, unpulled days), namespace policies, the schedule, and bad
// input changing nothing. In process (fastify.inject), auth.mode token.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RetentionRules, selectRemovals, type TagFacts } from '../../src/hub/retention.js';
import type { WharfServer } from '../../src/server/app.js';
import { pushImage } from '../support/push.js';
import { hubServer } from '../support/server.js';
import { sleep } from '../support/tools.js';
import { apiCall, asPusher, basicAuth } from './helpers.js';

const PASSWORDS = { admin: 'admin-Secret-0', alice: 'alice-Secret-1', bob: 'bob-Secret-2' };
const alice = basicAuth('alice', PASSWORDS.alice);
const bob = basicAuth('bob', PASSWORDS.bob);
const TAGS = Array.from({ length: 10 }, (_, i) => `v${String(i + 1).padStart(2, '0')}`);

async function tagNames(app: FastifyInstance, repo: string): Promise<string[]> {
  const res = await app.inject({ method: 'GET', url: `/api/repositories/${repo}/tags?page_size=100`, headers: alice });
  return (res.json() as { results: { name: string }[] }).results.map((t) => t.name).sort();
}

/** Pushes `tags` in order, each a distinct image, a few ms apart so that push times differ. */
async function pushTags(app: FastifyInstance, repo: string, tags: string[]): Promise<Map<string, string>> {
  const pusher = await asPusher(app, 'alice', PASSWORDS.alice, repo);
  const digests = new Map<string, string>();
  for (const tag of tags) {
    digests.set(
      tag,
      (await pushImage(pusher, repo, tag, { layers: ['shared base', `layer of ${repo}:${tag}`] })).digest,
    );
    await sleep(5);
  }
  return digests;
}

describe('retention policies', () => {
  let server: WharfServer;
  let app: FastifyInstance;

  beforeAll(async () => {
    server = await hubServer(PASSWORDS, { env: { WHARF_WEBHOOKS_ALLOW_PRIVATE_TARGETS: 'true' } });
    app = server.app;
  });
  afterAll(() => server.close());

  it('"keep the 3 newest tags" on 10 tags: the dry run shows 7, the run removes the same 7 with audit entries and delete events', async () => {
    const digests = await pushTags(app, 'alice/app', TAGS);
    // A webhook for delete events: each removal queues a delivery (the receiver need not exist).
    const hook = await apiCall(app, 'POST', '/api/repositories/alice/app/webhooks', alice, {
      name: 'deletes',
      url: 'http://127.0.0.1:9/hook',
      events: ['delete'],
    });
    expect(hook.status).toBe(201);

    const put = await apiCall(app, 'PUT', '/api/repositories/alice/app/retention', alice, { keep_last: 3 });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body.policy).toMatchObject({ keep_last: 3, keep_patterns: [], protect_patterns: [] });

    const dry = await apiCall(app, 'POST', '/api/repositories/alice/app/retention/run?dry_run=1', alice);
    expect(dry.status).toBe(200);
    const dryRepo = (dry.body.repositories as { repository: string; removed: { tag: string; digest: string }[] }[])[0];
    const wouldGo = (dryRepo?.removed ?? []).map((r) => r.tag).sort();
    expect(wouldGo).toEqual(TAGS.slice(0, 7));
    expect(dry.body).toMatchObject({ dry_run: true, removed: 7 });
    for (const r of dryRepo?.removed ?? []) expect(r.digest).toBe(digests.get(r.tag));
    // A dry run changes nothing.
    expect(await tagNames(app, 'alice/app')).toEqual(TAGS);

    const run = await apiCall(app, 'POST', '/api/repositories/alice/app/retention/run', alice);
    expect(run.status).toBe(200);
    const removed = (run.body.repositories as { removed: { tag: string }[] }[])[0]?.removed.map((r) => r.tag).sort();
    expect(removed).toEqual(wouldGo);
    expect(await tagNames(app, 'alice/app')).toEqual(TAGS.slice(7));
    // The removed tags are gone from /v2 too.
    const pusher = await asPusher(app, 'alice', PASSWORDS.alice, 'alice/app');
    expect((await pusher.inject({ method: 'HEAD', url: '/v2/alice/app/manifests/v01' })).statusCode).toBe(404);
    expect((await pusher.inject({ method: 'HEAD', url: '/v2/alice/app/manifests/v08' })).statusCode).toBe(200);

    const audit = await server.ctx.db
      .selectFrom('audit_log')
      .select(['target', 'detail', 'account_id'])
      .where('action', '=', 'retention.delete')
      .execute();
    expect(audit.map((a) => a.target).sort()).toEqual(wouldGo.map((t) => `alice/app:${t}`));
    for (const a of audit)
      expect(JSON.parse(a.detail)).toMatchObject({ repository: 'alice/app', policy: 'repository' });

    const deliveries = await server.ctx.db
      .selectFrom('deliveries')
      .select(['event', 'payload'])
      .where('webhook_id', '=', (hook.body as { id: number }).id)
      .execute();
    expect(deliveries.every((d) => d.event === 'delete')).toBe(true);
    const deleted = deliveries.map((d) => (JSON.parse(d.payload) as { delete_data: { tag: string } }).delete_data.tag);
    expect(deleted.sort()).toEqual(wouldGo);

    // The next run finds nothing more to do.
    const again = await apiCall(app, 'POST', '/api/repositories/alice/app/retention/run', alice);
    expect(again.body).toMatchObject({ removed: 0 });
  });

  it("a namespace's policy applies to its repositories without their own; protected tags always stay", async () => {
    await pushTags(app, 'alice/tools', ['a1', 'a2', 'stable', 'a3']);
    const put = await apiCall(app, 'PUT', '/api/namespaces/alice/retention', alice, {
      keep_last: 1,
      protect_patterns: ['stable', 'release-*'],
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const dry = await apiCall(app, 'POST', '/api/namespaces/alice/retention/run?dry_run=1', alice);
    const byRepo = Object.fromEntries(
      (dry.body.repositories as { repository: string; policy: string; removed: { tag: string }[] }[]).map((r) => [
        r.repository,
        r,
      ]),
    );
    // alice/app keeps its own policy (3 newest, nothing more to remove); alice/tools follows the namespace.
    expect(byRepo['alice/app']).toMatchObject({ policy: 'repository', removed: [] });
    expect(byRepo['alice/tools']?.policy).toBe('namespace');
    expect(byRepo['alice/tools']?.removed.map((r) => r.tag).sort()).toEqual(['a1', 'a2']);
    await apiCall(app, 'POST', '/api/namespaces/alice/retention/run', alice);
    expect(await tagNames(app, 'alice/tools')).toEqual(['a3', 'stable']);
  });

  it('refuses bad policies and strangers, changing nothing', async () => {
    for (const body of [
      { keep_last: -1 },
      { keep_last: 1.5 },
      { keep_patterns: ['../x'] },
      { protect_patterns: 'stable' },
      { keep_lats: 3 },
    ]) {
      const res = await apiCall(app, 'PUT', '/api/repositories/alice/app/retention', alice, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    const policy = await apiCall(app, 'GET', '/api/repositories/alice/app/retention', alice);
    expect(policy.body.policy).toMatchObject({ keep_last: 3 });
    // Another account neither sees nor changes it, nor runs it.
    expect((await apiCall(app, 'GET', '/api/repositories/alice/app/retention', bob)).status).toBe(404);
    expect((await apiCall(app, 'PUT', '/api/repositories/alice/app/retention', bob, { keep_last: 0 })).status).toBe(
      404,
    );
    expect((await apiCall(app, 'POST', '/api/repositories/alice/app/retention/run', bob)).status).toBe(404);
    expect((await apiCall(app, 'PUT', '/api/namespaces/alice/retention', bob, { keep_last: 0 })).status).toBe(404);
    expect(await tagNames(app, 'alice/app')).toEqual(TAGS.slice(7));
  });
});

describe('retention rules', () => {
  const day = 86_400_000;
  const at = Date.parse('2026-06-30T00:00:00Z');
  const facts = (name: string, pushedDaysAgo: number, pulledDaysAgo?: number): TagFacts => ({
    name,
    digest: `sha256:${name}`,
    pushedAt: new Date(at - pushedDaysAgo * day).toISOString(),
    pulledAt: pulledDaysAgo === undefined ? null : new Date(at - pulledDaysAgo * day).toISOString(),
  });
  const tags = [facts('latest', 1, 0), facts('v1', 40), facts('v2', 30, 2), facts('v3', 20), facts('dev-x', 10)];
  const rules: RetentionRules = { keepLast: null, keepPatterns: [], protectPatterns: [], removeUnpulledDays: null };
  const removed = (r: Partial<typeof rules>) =>
    selectRemovals(tags, { ...rules, ...r }, at)
      .map((x) => x.tag)
      .sort();

  it('removes nothing without a keep rule, whatever is protected', () => {
    expect(removed({})).toEqual([]);
    expect(removed({ protectPatterns: ['*'] })).toEqual([]);
  });
  it('keeps the N most recently pushed', () => {
    expect(removed({ keepLast: 2 })).toEqual(['v1', 'v2', 'v3']);
  });
  it('keeps tags matching a pattern', () => {
    expect(removed({ keepPatterns: ['v?', 'latest'] })).toEqual(['dev-x']);
  });
  it('removes tags not pulled (or, never pulled, not pushed) for D days', () => {
    expect(removed({ removeUnpulledDays: 15 })).toEqual(['v1', 'v3']);
  });
  it('keeps a tag that any rule keeps; protected tags always stay', () => {
    expect(removed({ keepLast: 1, removeUnpulledDays: 15 })).toEqual(['v1', 'v3']);
    expect(removed({ keepLast: 1, protectPatterns: ['v*'] })).toEqual(['dev-x']);
    expect(removed({ keepLast: 0, protectPatterns: ['latest'] })).toEqual(['dev-x', 'v1', 'v2', 'v3']);
  });
});

describe('the retention schedule', () => {
  it('applies the policies every retention.interval', async () => {
    const server = await hubServer(PASSWORDS, { env: { WHARF_RETENTION_INTERVAL: '200ms' } });
    try {
      await pushTags(server.app, 'alice/ci', ['b1', 'b2', 'b3']);
      const put = await apiCall(server.app, 'PUT', '/api/repositories/alice/ci/retention', alice, { keep_last: 1 });
      expect(put.status).toBe(200);
      const until = Date.now() + 10_000;
      while ((await tagNames(server.app, 'alice/ci')).length > 1 && Date.now() < until) await sleep(100);
      expect(await tagNames(server.app, 'alice/ci')).toEqual(['b3']);
      const audit = await server.ctx.db
        .selectFrom('audit_log')
        .select(['target', 'account_id'])
        .where('action', '=', 'retention.delete')
        .execute();
      // The schedule acts as the system: no account.
      expect(audit.map((a) => [a.target, a.account_id]).sort()).toEqual([
        ['alice/ci:b1', null],
        ['alice/ci:b2', null],
      ]);
    } finally {
      await server.close();
    }
  });
});
