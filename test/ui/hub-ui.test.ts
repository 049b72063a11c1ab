// The web UI in real Chromium (issue 6, "Must show"): Debian's chromium driven by playwright-core
// against a real `wharf serve` in token mode, a private dockerd pushing with the account made in
// the browser, and a webhook receiver on 127.0.0.1 (deliveries and a redelivery). The audit log
// pages of an organization's owners and of administrators. Screenshots go to test-artifacts/ui/.
import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { startWharf, type WharfProcess } from '../support/server.js';
import { interopDescribe, sleep } from '../support/tools.js';

const TIMEOUT = 180_000;
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'ui');
const PASSWORD = 'carol-Secret-1';
const HOSTILE_MARKDOWN = [
  '# Secret app',
  '',
  '<script>document.title = "pwned"</script>',
  '',
  '[click me](javascript:alert(1)) and [also](JaVaScRiPt:alert(2)) and [data](data:text/html;base64,PHNjcmlwdD4=)',
  '',
  '<img src=x onerror="document.title=1">',
  '',
  '[the docs](https://example.com/docs)',
].join('\n');

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

interopDescribe('the web UI in Chromium', ['chromium', 'dockerd', 'docker', 'busybox'], () => {
  let wharf: WharfProcess;
  let d: Dockerd;
  let browser: Browser;
  let pageA: Page;
  let receiver: Server;
  let receiverUrl: string;
  const received: Received[] = [];

  const url = (path: string) => `${wharf.url}${path}`;
  const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const opts = { timeoutMs: TIMEOUT };

  async function signUp(page: Page, username: string): Promise<void> {
    await page.goto(url('/signup'));
    await page.fill('input[name=username]', username);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(url('/'));
  }

  async function signIn(page: Page, username: string, password: string): Promise<void> {
    await page.goto(url('/signin'));
    await page.fill('input[name=username]', username);
    await page.fill('input[name=password]', password);
    await Promise.all([page.waitForURL(url('/')), page.click('main button[type=submit]')]);
  }

  /** The cells of each row of the audit table, as text. */
  const auditRows = (page: Page) =>
    page
      .locator('table.audit tbody tr')
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim() ?? '')));

  async function submit(page: Page, formSelector: string, fields: Record<string, string>): Promise<void> {
    for (const [name, value] of Object.entries(fields)) {
      const field = page.locator(`${formSelector} [name=${name}]`).first();
      if ((await field.getAttribute('type')) === 'radio') {
        await page.check(`${formSelector} [name=${name}][value=${value}]`);
      } else if ((await field.evaluate((el) => el.tagName)) === 'SELECT') {
        await field.selectOption(value);
      } else {
        await field.fill(value);
      }
    }
    await Promise.all([page.waitForLoadState('load'), page.click(`${formSelector} button[type=submit]`)]);
  }

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    [wharf, d, browser] = await Promise.all([
      startWharf({
        env: {
          WHARF_AUTH_MODE: 'token',
          WHARF_ADMIN_PASSWORD: 'admin-Secret-1',
          WHARF_WEBHOOKS_ALLOW_PRIVATE_TARGETS: 'true',
          // The default (slow) poll: pushes and redeliveries must be sent at once without it.
        },
      }),
      startDockerd(),
      chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-background-networking'],
      }),
    ]);
    await makeBusyboxImage(d, 'ui-base:1');
    pageA = await (await browser.newContext({ viewport: { width: 1100, height: 900 } })).newPage();
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => receiver?.close(resolve));
    await Promise.all([d?.stop(), wharf?.cleanup()]);
  }, TIMEOUT);

  it(
    'sign up, create an organization and a team, create a private repository with a hostile description',
    async () => {
      await signUp(pageA, 'carol');
      expect(await pageA.locator('header nav').innerText()).toContain('carol');
      await shot(pageA, '01-home-signed-in');

      await pageA.goto(url('/orgs/new'));
      await submit(pageA, 'form[action="/orgs/new"]', { name: 'acme' });
      expect(pageA.url()).toBe(url('/orgs/acme/settings'));
      await submit(pageA, 'form[action="/orgs/acme/settings/teams"]', { name: 'devs', description: 'Developers' });
      expect(await pageA.locator('.team').innerText()).toContain('devs');
      await shot(pageA, '02-organization-settings');

      await pageA.goto(url('/new'));
      await submit(pageA, 'form[action="/new"]', {
        namespace: 'carol',
        name: 'secret',
        description: 'A private app',
        full_description: HOSTILE_MARKDOWN,
        visibility: 'private',
      });
      expect(pageA.url()).toBe(url('/r/carol/secret'));
      expect(await pageA.locator('.repo-head h1').innerText()).toContain('Private');
    },
    TIMEOUT,
  );

  it(
    'the hostile Markdown is rendered harmless: no script, no event handler, no javascript: or data: link',
    async () => {
      await pageA.goto(url('/r/carol/secret'));
      const md = pageA.locator('.markdown');
      expect((await md.locator('h1').innerText()).trim()).toBe('Secret app');
      expect(await md.locator('script').count()).toBe(0);
      expect(await md.locator('img').count()).toBe(0);
      expect(await md.locator('[onerror]').count()).toBe(0);
      const hrefs = await md.locator('a').evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''));
      expect(hrefs).toEqual(['https://example.com/docs']);
      // The script tag is shown as text, and never ran.
      expect(await md.innerText()).toContain('<script>');
      expect(await pageA.title()).not.toBe('pwned');
      expect(await pageA.title()).not.toBe('1');
    },
    TIMEOUT,
  );

  it(
    'docker login with the new account and push; the UI shows the tag, its layers and history',
    async () => {
      const login = await d.docker(['login', wharf.host, '-u', 'carol', '--password-stdin'], {
        ...opts,
        input: `${PASSWORD}\n`,
      });
      expect(login.code, login.stderr).toBe(0);
      await d.dockerOk(['tag', 'ui-base:1', `${wharf.host}/carol/secret:1.0`], opts);
      await d.dockerOk(['push', `${wharf.host}/carol/secret:1.0`], opts);

      await pageA.goto(url('/r/carol/secret'));
      const row = pageA.locator('.tag-list > li[data-tag="1.0"]');
      expect(await row.innerText()).toContain('linux/amd64');
      // Own / shared bytes: the only image with these layers owns all of them.
      expect(await row.innerText()).toMatch(/1\.\d+ MB \(own 1\.\d+ MB, shared 0 B\)/);
      expect(await pageA.locator('input[aria-label="docker pull command"]').inputValue()).toBe(
        `docker pull ${wharf.host}/carol/secret`,
      );
      await shot(pageA, '03-repository');

      await row.locator('h3 a').click();
      await pageA.waitForURL(url('/r/carol/secret/tags/1.0'));
      expect(await pageA.locator('table.layers tbody tr').count()).toBe(1);
      expect(await pageA.locator('table.layers').innerText()).toContain('sha256:');
      expect(await pageA.locator('ol.history li').first().isVisible()).toBe(true);
      await shot(pageA, '04-tag-layers');
    },
    TIMEOUT,
  );

  it(
    'star it, and find it by search (signed in; anonymous visitors do not see it)',
    async () => {
      await pageA.goto(url('/r/carol/secret'));
      await submit(pageA, 'form[action="/r/carol/secret/star"]', {});
      expect((await pageA.locator('[data-test=stars]').innerText()).trim()).toBe('★ 1');
      expect((await pageA.locator('form[action="/r/carol/secret/star"] button').innerText()).trim()).toBe('Unstar');

      await pageA.fill('header input[name=q]', 'secret');
      await Promise.all([pageA.waitForURL(/\/search\?q=secret/), pageA.press('header input[name=q]', 'Enter')]);
      expect(await pageA.locator('ul.results').innerText()).toContain('carol/secret');
      await shot(pageA, '05-search');

      const anonymous = await (await browser.newContext()).newPage();
      await anonymous.goto(url('/search?q=secret'));
      expect(await anonymous.locator('main').innerText()).toContain('No repositories');
      const hidden = await anonymous.goto(url('/r/carol/secret'));
      expect(hidden?.status()).toBe(404);
      await anonymous.context().close();
    },
    TIMEOUT,
  );

  it(
    'add a webhook; a push is delivered to the receiver and shows in the delivery log',
    async () => {
      await pageA.goto(url('/r/carol/secret/settings'));
      await submit(pageA, 'form[action="/r/carol/secret/settings/webhooks"]', {
        name: 'ci',
        url: receiverUrl,
        secret: 'hook-secret',
      });
      expect(await pageA.locator('.webhook').innerText()).toContain(receiverUrl);

      await d.dockerOk(['tag', 'ui-base:1', `${wharf.host}/carol/secret:2.0`], opts);
      await d.dockerOk(['push', `${wharf.host}/carol/secret:2.0`], opts);
      const deadline = Date.now() + 30_000;
      while (received.length === 0 && Date.now() < deadline) await sleep(100);
      expect(received.length).toBeGreaterThan(0);
      const payload = JSON.parse(received[0]?.body ?? '{}') as {
        push_data?: { tag?: string };
        repository?: { repo_name?: string };
      };
      expect(payload.push_data?.tag).toBe('2.0');
      expect(payload.repository?.repo_name).toContain('carol/secret');

      // The history is written once the worker records the attempt.
      let delivered = false;
      for (let i = 0; i < 50 && !delivered; i++) {
        await pageA.goto(url('/r/carol/secret/settings'));
        delivered = (await pageA.locator('table.deliveries').textContent())?.includes('delivered') ?? false;
        if (!delivered) await sleep(200);
      }
      expect(delivered).toBe(true);
      expect(await pageA.locator('table.deliveries').innerText()).toContain('200');
      await shot(pageA, '06-webhook-deliveries');
    },
    TIMEOUT,
  );

  it(
    'the plan limit: a second private repository is refused in the UI with a clear message',
    async () => {
      await pageA.goto(url('/new'));
      const [response] = await Promise.all([
        pageA.waitForResponse((r) => r.url() === url('/new') && r.request().method() === 'POST'),
        submit(pageA, 'form[action="/new"]', { namespace: 'carol', name: 'another', visibility: 'private' }),
      ]);
      expect(response.status()).toBe(403);
      // A refusal about the visibility is shown at the Visibility field.
      expect(await pageA.locator('fieldset .field-error').innerText()).toContain('allows 1 private repository');
      await shot(pageA, '07-plan-limit');
      const missing = await pageA.goto(url('/r/carol/another'));
      expect(missing?.status()).toBe(404);
    },
    TIMEOUT,
  );

  it(
    'form posts without the CSRF token are refused (403) and change nothing',
    async () => {
      // Signed in, the browser sends the session cookie; only the token is missing or wrong.
      // (The pages' CSP forbids scripts, so the posts come from the browser context's request API.)
      const post = async (path: string, form: Record<string, string>) =>
        (await pageA.request.post(url(path), { form })).status();
      const results = [
        await post('/r/carol/secret/settings/delete', { confirm: 'carol/secret' }),
        await post('/r/carol/secret/settings/delete', { confirm: 'carol/secret', _csrf: 'wrong' }),
        await post('/settings/tokens', { name: 'stolen', scope: 'admin' }),
      ];
      expect(results).toEqual([403, 403, 403]);
      const still = await pageA.goto(url('/r/carol/secret'));
      expect(still?.status()).toBe(200);
      await pageA.goto(url('/settings'));
      expect(await pageA.locator('main').innerText()).not.toContain('stolen');
    },
    TIMEOUT,
  );

  it(
    "another account's settings pages answer 404",
    async () => {
      const other = await (await browser.newContext()).newPage();
      await signUp(other, 'dave');
      for (const path of [
        '/r/carol/secret/settings',
        '/orgs/acme/settings',
        '/orgs/acme/settings/audit',
        '/r/carol/secret',
        '/admin',
        '/admin/audit',
      ]) {
        const res = await other.goto(url(path));
        expect(res?.status(), path).toBe(404);
      }
      // Posting to them (with dave's own valid token) is no different.
      const csrf = await other.locator('input[name=_csrf]').first().getAttribute('value');
      const status = (
        await other.request.post(url('/r/carol/secret/settings/delete'), {
          form: { confirm: 'carol/secret', _csrf: csrf ?? '' },
        })
      ).status();
      expect(status).toBe(404);
      await other.context().close();
    },
    TIMEOUT,
  );

  it(
    'the admin page: a larger plan for carol, then her second private repository is accepted; an official mark',
    async () => {
      const admin = await (await browser.newContext()).newPage();
      await signIn(admin, 'admin', 'admin-Secret-1');
      await admin.goto(url('/admin'));
      await submit(admin, 'form[action="/admin/plans"]', { name: 'team', private_repos: '5' });
      await submit(admin, 'form[action="/admin/assign"]', { namespace: 'carol', plan: 'team' });
      await submit(admin, 'form[action="/admin/official"]', { repository: 'carol/secret' });
      expect(await admin.locator('main').innerText()).toContain('carol (user, team)');
      await shot(admin, '08-admin');
      await admin.context().close();

      await pageA.goto(url('/new'));
      await submit(pageA, 'form[action="/new"]', { namespace: 'carol', name: 'another', visibility: 'private' });
      expect(pageA.url()).toBe(url('/r/carol/another'));
      await pageA.goto(url('/r/carol/secret'));
      expect(await pageA.locator('.repo-head').innerText()).toContain('Official');
    },
    TIMEOUT,
  );

  it(
    'redeliver from the delivery log: a new delivery of the same payload reaches the receiver',
    async () => {
      await pageA.goto(url('/r/carol/secret/settings'));
      const rows = pageA.locator('table.deliveries tbody tr');
      const original = (await rows.first().getAttribute('data-delivery')) ?? '';
      const sent = received.find((r) => r.headers['x-wharf-delivery'] === original);
      expect(sent, `delivery ${original} was received`).toBeDefined();

      // Without the CSRF token: refused, nothing queued.
      const action = (await rows.first().locator('form').getAttribute('action')) ?? '';
      expect(action).toMatch(new RegExp(`/settings/webhooks/\\d+/deliveries/${original}/redeliver$`));
      expect((await pageA.request.post(url(action), { form: {} })).status()).toBe(403);

      const before = received.length;
      await Promise.all([
        pageA.waitForLoadState('load'),
        rows.first().locator('button', { hasText: 'Redeliver' }).click(),
      ]);
      expect(pageA.url()).toBe(url('/r/carol/secret/settings'));
      const deadline = Date.now() + 30_000;
      while (received.length === before && Date.now() < deadline) await sleep(100);
      expect(received.length).toBe(before + 1);
      const again = received[before];
      expect(again?.headers['x-wharf-delivery']).not.toBe(original);
      expect(Number(again?.headers['x-wharf-delivery'])).toBeGreaterThan(Number(original));
      expect(again?.body).toBe(sent?.body);
      // Same payload, same secret: the same signature.
      expect(again?.headers['x-wharf-signature-256']).toBe(sent?.headers['x-wharf-signature-256']);

      // The log shows the new delivery on top, delivered.
      let top = '';
      for (let i = 0; i < 50; i++) {
        await pageA.goto(url('/r/carol/secret/settings'));
        top = await rows.first().innerText();
        if ((await rows.first().getAttribute('data-delivery')) !== original && top.includes('delivered')) break;
        await sleep(200);
      }
      expect(await rows.first().getAttribute('data-delivery')).toBe(again?.headers['x-wharf-delivery']);
      expect(top).toContain('delivered');
      expect(top).toContain('200');
      await shot(pageA, '09-webhook-redelivered');
    },
    TIMEOUT,
  );

  it(
    "the organization's audit log: its owner sees the organization's entries only; a member gets 404",
    async () => {
      await pageA.goto(url('/new'));
      await submit(pageA, 'form[action="/new"]', { namespace: 'acme', name: 'app', visibility: 'public' });
      expect(pageA.url()).toBe(url('/r/acme/app'));
      const member = await (await browser.newContext()).newPage();
      await signUp(member, 'erin');
      await pageA.goto(url('/orgs/acme/settings'));
      await submit(pageA, 'form[action="/orgs/acme/settings/members"]', { username: 'erin', role: 'member' });
      await submit(pageA, 'form[action="/orgs/acme/settings/teams/devs"]', {
        member: 'erin',
        repository: 'app',
        permission: 'write',
      });
      expect(await pageA.locator('.team').innerText()).toContain('acme/app (write)');

      await Promise.all([
        pageA.waitForURL(url('/orgs/acme/settings/audit')),
        pageA.click('a[href="/orgs/acme/settings/audit"]'),
      ]);
      const rows = await auditRows(pageA);
      // Newest first, and nothing of carol's own namespace (her sign-up, carol/secret, its webhook).
      expect(rows.map((r) => r[2])).toEqual([
        'team.permission',
        'team.member',
        'org.member',
        'repository.create',
        'team.create',
        'org.create',
      ]);
      expect(rows.every((r) => r[1] === 'carol')).toBe(true);
      expect(rows[0]?.[3]).toBe('acme/devs');
      expect(rows[0]?.[4]).toContain('permission: write');
      expect(rows[1]?.[4]).toBe('account: erin');
      expect(rows[3]?.[3]).toBe('acme/app');
      expect(rows[0]?.[5]).toMatch(/127\.0\.0\.1/);
      await shot(pageA, '10-organization-audit');

      // A member (not an owner) of the organization: the same 404 as for its settings.
      for (const path of ['/orgs/acme/settings/audit', '/orgs/acme/settings/audit?page=2', '/orgs/acme/settings']) {
        expect((await member.goto(url(path)))?.status(), path).toBe(404);
      }
      expect(await member.locator('main').innerText()).not.toContain('team.permission');
      await member.context().close();
    },
    TIMEOUT,
  );

  it(
    'the admin audit log: every sign-in, newest first, details shown as text, paginated',
    async () => {
      // A failed sign-in with markup for a name: it is recorded, and shown as text.
      const hostile = '<img src=x onerror="document.title=1">';
      const anonymous = await (await browser.newContext()).newPage();
      await anonymous.goto(url('/signin'));
      await anonymous.fill('input[name=username]', hostile);
      await anonymous.fill('input[name=password]', 'not-the-password');
      await Promise.all([anonymous.waitForLoadState('load'), anonymous.click('main button[type=submit]')]);
      await anonymous.context().close();

      const admin = await (await browser.newContext()).newPage();
      await signIn(admin, 'admin', 'admin-Secret-1');
      await admin.goto(url('/admin'));
      await Promise.all([admin.waitForURL(url('/admin/audit')), admin.click('main a[href="/admin/audit"]')]);
      const rows = await auditRows(admin);
      // The admin's own sign-in is the newest entry.
      expect(rows[0]?.slice(1, 5)).toEqual(['admin', 'login', 'admin', 'via: web']);
      expect(rows[0]?.[5]).toMatch(/127\.0\.0\.1/);
      // Recorded once (by the password check the token endpoint shares).
      const failed = rows.filter((r) => r[2] === 'login.failed');
      expect(failed.map((r) => r.slice(1, 4))).toEqual([['anonymous', 'login.failed', hostile]]);
      expect(await admin.locator('table.audit img').count()).toBe(0);
      expect(await admin.title()).not.toBe('1');
      // carol's docker login, her redelivery and her organization's entries are all there.
      expect(rows.some((r) => r[1] === 'carol' && r[2] === 'login' && r[4].includes('via:'))).toBe(true);
      expect(rows.some((r) => r[2] === 'webhook.redeliver' && r[3] === 'carol/secret')).toBe(true);
      expect(rows.some((r) => r[2] === 'team.permission')).toBe(true);
      const times = rows.map((r) => r[0] ?? '');
      expect([...times].sort().reverse()).toEqual(times);
      await shot(admin, '11-admin-audit');

      const beyond = await admin.goto(url('/admin/audit?page=999'));
      expect(beyond?.status()).toBe(200);
      expect(await admin.locator('main').innerText()).toContain('No entries on this page');
      await admin.context().close();
    },
    TIMEOUT,
  );
});
