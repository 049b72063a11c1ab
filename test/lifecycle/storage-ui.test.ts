// The storage pages of the web UI (issue 11): a repository's usage and retention policy, saved
// through the form; the dry run is shown before the button that applies it, and the button
// removes exactly those tags. In process (fastify.inject), with a real sign-in and CSRF tokens.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WharfServer } from '../../src/server/app.js';
import { pushImage } from '../support/push.js';
import { hubServer } from '../support/server.js';
import { sleep } from '../support/tools.js';
import { asPusher } from './helpers.js';

const PASSWORDS = { admin: 'admin-Secret-0', alice: 'alice-Secret-1', bob: 'bob-Secret-2' };

/** A browser-like session: cookies kept between requests, the page's CSRF token sent with forms. */
class Browser {
  private cookies = new Map<string, string>();
  constructor(private readonly app: FastifyInstance) {}

  private keep(setCookie: string | string[] | undefined): void {
    for (const c of [setCookie ?? []].flat()) {
      const [pair] = c.split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (pair && eq > 0) this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
  }
  private get cookie(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  async get(url: string) {
    const res = await this.app.inject({ method: 'GET', url, headers: { cookie: this.cookie } });
    this.keep(res.headers['set-cookie']);
    return res;
  }
  async post(url: string, fields: Record<string, string>, csrfFrom: string) {
    const page = await this.get(csrfFrom);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
    const res = await this.app.inject({
      method: 'POST',
      url,
      headers: { cookie: this.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ ...fields, _csrf: csrf }).toString(),
    });
    this.keep(res.headers['set-cookie']);
    return res;
  }
}

describe('storage pages of the web UI', () => {
  let server: WharfServer;
  let app: FastifyInstance;

  beforeAll(async () => {
    server = await hubServer(PASSWORDS);
    app = server.app;
    const pusher = await asPusher(app, 'alice', PASSWORDS.alice, 'alice/app');
    for (const tag of ['t1', 't2', 't3', 't4', 'stable']) {
      await pushImage(pusher, 'alice/app', tag, { layers: ['common base', `layer ${tag}`] });
      await sleep(5);
    }
  });
  afterAll(() => server.close());

  it('shows usage, saves a policy, shows its dry run, and the run removes what the dry run showed', async () => {
    const alice = new Browser(app);
    const signin = await alice.post('/signin', { username: 'alice', password: PASSWORDS.alice }, '/signin');
    expect(signin.statusCode).toBe(303);
    const settings = '/r/alice/app/settings/storage';

    const first = await alice.get(settings);
    expect(first.statusCode).toBe(200);
    expect(first.body).toContain('data-test="unique"');
    expect(first.body).toMatch(/<p class="muted" data-test="dry-run">Nothing\.<\/p>/);

    const saved = await alice.post(
      '/r/alice/app/settings/retention',
      { keep_last: '2', keep_patterns: '', protect_patterns: 'stable', remove_unpulled_days: '' },
      settings,
    );
    expect(saved.statusCode).toBe(303);
    const preview = await alice.get(settings);
    const listed = [...preview.body.matchAll(/<code>alice\/app:([^<]+)<\/code>/g)].map((m) => m[1]).sort();
    // The two newest are t4 and stable; stable is protected anyway; t1..t3 go.
    expect(listed).toEqual(['t1', 't2', 't3']);
    expect(preview.body).toContain('Remove these 3 tags now');

    const bad = await alice.post('/r/alice/app/settings/retention', { keep_last: 'many' }, settings);
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('Keep the newest must be a whole number');

    const ran = await alice.post('/r/alice/app/settings/retention/run', {}, settings);
    expect(ran.statusCode).toBe(200);
    expect(ran.body).toContain('Removed 3 tags.');
    const tags = await server.ctx.db.selectFrom('tags').select('name').orderBy('name').execute();
    expect(tags.map((t) => t.name)).toEqual(['stable', 't4']);

    const del = await alice.post('/r/alice/app/settings/tags/delete', { tag: 't4' }, settings);
    expect(del.statusCode).toBe(303);
    const unknown = await alice.post('/r/alice/app/settings/tags/delete', { tag: 't4' }, settings);
    expect(unknown.statusCode).toBe(400);
    expect(unknown.body).toContain('no tag &quot;t4&quot;');
    expect((await server.ctx.db.selectFrom('tags').select('name').execute()).map((t) => t.name)).toEqual(['stable']);

    // The repository page shows its usage to anyone who may see it.
    const repoPage = await new Browser(app).get('/r/alice/app');
    expect(repoPage.body).toMatch(/data-test="storage">Storage: [\d.]+ (B|KiB) only here · [\d.]+ (B|KiB) shared/);

    // The namespace page's storage view, for its owner only.
    const ns = await alice.get('/u/alice/storage');
    expect(ns.statusCode).toBe(200);
    expect(ns.body).toContain('<a href="/r/alice/app">alice/app</a>');
    const bob = new Browser(app);
    await bob.post('/signin', { username: 'bob', password: PASSWORDS.bob }, '/signin');
    expect((await bob.get('/u/alice/storage')).statusCode).toBe(404);
    expect((await bob.get(settings)).statusCode).toBe(404);
  });

  it('deleting a repository from its settings page: its manifests are unknown at once (not served from the cache)', async () => {
    const pusher = await asPusher(app, 'alice', PASSWORDS.alice, 'alice/gone');
    await pushImage(pusher, 'alice/gone', 'latest', { layers: ['gone layer'] });
    const manifest = () => pusher.inject({ method: 'GET', url: '/v2/alice/gone/manifests/latest' });
    // Read once so that the manifest cache holds the tag.
    expect((await manifest()).statusCode).toBe(200);
    const alice = new Browser(app);
    await alice.post('/signin', { username: 'alice', password: PASSWORDS.alice }, '/signin');
    const deleted = await alice.post(
      '/r/alice/gone/settings/delete',
      { confirm: 'alice/gone' },
      '/r/alice/gone/settings',
    );
    expect(deleted.statusCode).toBe(303);
    expect((await manifest()).statusCode).toBe(404);
  });
});
