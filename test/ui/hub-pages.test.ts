// The hub's pages at Docker Hub's level (issue 15, "Must show"), in Debian's Chromium through
// playwright-core against a real `wharf serve`: explore with sort and filters, search, the
// repository's tabs, a tag's page with its layers and config, the dashboard and the settings, at
// 1280 and 390 px, light and dark; axe-core finds no serious or critical violation; no
// horizontal scroll on a phone; radio buttons and checkboxes on the line of their labels; the
// copy button puts the exact `docker pull` line on the clipboard; without JavaScript every page
// renders and the forms submit. Images are pushed over the registry API (token auth) with known
// layers, so the tag page can be checked against them. Screenshots: test-artifacts/ui/.
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startWharf, type WharfProcess } from '../support/server.js';
import { interopDescribe, waitFor } from '../support/tools.js';

const TIMEOUT = 180_000;
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'ui');
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const PASSWORD = 'dana-Secret-1';
const WIDTHS = [1280, 390] as const;

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Pushed {
  manifestDigest: string;
  /** Compressed size: config + layers. */
  size: number;
  layers: { digest: string; size: number; createdBy: string }[];
}

interopDescribe('the hub pages of issue 15 in Chromium', ['chromium'], () => {
  let wharf: WharfProcess;
  let browser: Browser;
  let dana: BrowserContext;
  let page: Page;
  const url = (path: string) => `${wharf.url}${path}`;
  let pushed: Pushed;
  let firstPush: Pushed;
  let second: Pushed;

  /** A token for `scope` with Basic credentials, as docker gets one. */
  async function token(user: string, password: string, scope: string): Promise<string> {
    const challenge = (await fetch(url('/v2/'))).headers.get('www-authenticate') ?? '';
    const realm = /realm="([^"]+)"/.exec(challenge)?.[1] ?? '';
    const service = /service="([^"]+)"/.exec(challenge)?.[1] ?? '';
    const res = await fetch(`${realm}?service=${encodeURIComponent(service)}&scope=${encodeURIComponent(scope)}`, {
      headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { token: string }).token;
  }

  /** Pushes an image of `layers` (bytes, command) with a config naming those commands. */
  async function pushImage(repo: string, tag: string, layers: { bytes: Buffer; createdBy: string }[]): Promise<Pushed> {
    const auth = { authorization: `Bearer ${await token('dana', PASSWORD, `repository:${repo}:push,pull`)}` };
    const upload = async (body: Buffer) => {
      const digest = sha256(body);
      const start = await fetch(url(`/v2/${repo}/blobs/uploads/`), { method: 'POST', headers: auth });
      expect(start.status).toBe(202);
      const location = new URL(start.headers.get('location') ?? '', wharf.url);
      location.searchParams.set('digest', digest);
      const put = await fetch(location, {
        method: 'PUT',
        headers: { ...auth, 'content-type': 'application/octet-stream' },
        body,
      });
      expect(put.status).toBe(201);
      return digest;
    };
    const layerDescs: { mediaType: string; digest: string; size: number }[] = [];
    for (const l of layers) {
      layerDescs.push({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: await upload(l.bytes),
        size: l.bytes.length,
      });
    }
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: {
          Env: ['PATH=/usr/bin', 'APP_MODE=test'],
          Entrypoint: ['/bin/app'],
          Cmd: ['--serve'],
          ExposedPorts: { '8080/tcp': {} },
          Labels: { 'org.example.team': 'dana' },
        },
        rootfs: { type: 'layers', diff_ids: layerDescs.map((l) => l.digest) },
        history: layers.map((l) => ({ created: '2026-01-01T00:00:00Z', created_by: l.createdBy })),
      }),
    );
    const configDigest = await upload(config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: layerDescs,
      }),
    );
    const put = await fetch(url(`/v2/${repo}/manifests/${tag}`), {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      body: manifest,
    });
    expect(put.status).toBe(201);
    return {
      manifestDigest: sha256(manifest),
      size: config.length + layers.reduce((n, l) => n + l.bytes.length, 0),
      layers: layers.map((l, i) => ({
        digest: layerDescs[i]?.digest ?? '',
        size: l.bytes.length,
        createdBy: l.createdBy,
      })),
    };
  }

  async function pull(repo: string, tag: string): Promise<void> {
    const auth = { authorization: `Bearer ${await token('dana', PASSWORD, `repository:${repo}:pull`)}` };
    const res = await fetch(url(`/v2/${repo}/manifests/${tag}`), {
      headers: { ...auth, accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  }

  /** axe-core in the page: the serious and critical violations (id and first target). */
  async function axeViolations(p: Page): Promise<string[]> {
    await p.addScriptTag({ path: AXE });
    const violations = await p.evaluate(async () => {
      const axe = (globalThis as unknown as { axe: { run: (o: unknown) => Promise<{ violations: unknown[] }> } }).axe;
      const result = await axe.run({ resultTypes: ['violations'] });
      return result.violations as { id: string; impact: string; nodes: { target: string[] }[] }[];
    });
    return violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}) at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  }

  /** Each page at both widths and in both schemes: axe, no horizontal scroll, a screenshot. */
  async function checkPage(name: string, path: string): Promise<void> {
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 900 });
      for (const scheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        const res = await page.goto(url(path));
        expect(res?.status(), `${path} ${width} ${scheme}`).toBe(200);
        expect(await axeViolations(page), `${path} at ${width} px, ${scheme}`).toEqual([]);
        const overflow = await page.evaluate(() => {
          const root = (
            globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }
          ).document.documentElement;
          return root.scrollWidth - root.clientWidth;
        });
        expect(overflow, `${path} scrolls sideways at ${width} px`).toBeLessThanOrEqual(0);
        await page.screenshot({ path: join(ARTIFACTS, `15-${name}-${width}-${scheme}.png`), fullPage: true });
      }
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    [wharf, browser] = await Promise.all([
      startWharf({ env: { WHARF_AUTH_MODE: 'token', WHARF_ADMIN_PASSWORD: 'admin-Secret-1' } }),
      chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-background-networking'],
      }),
    ]);
    // bypassCSP: only so that the test can inject axe-core (the pages' CSP forbids inline scripts).
    dana = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
    await dana.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: wharf.url });
    page = await dana.newPage();
    await page.goto(url('/signup'));
    await page.fill('input[name=username]', 'dana');
    await page.fill('input[name=password]', PASSWORD);
    await Promise.all([page.waitForURL(url('/')), page.click('main button[type=submit]')]);

    // Tag 1 is pushed twice (the size chart has two points), tag 2 shares its first layer.
    firstPush = await pushImage('dana/app', '1', [{ bytes: Buffer.alloc(3000, 1), createdBy: 'ADD rootfs.tar /' }]);
    pushed = await pushImage('dana/app', '1', [
      { bytes: Buffer.alloc(3000, 1), createdBy: 'ADD rootfs.tar /' },
      { bytes: Buffer.alloc(1200, 2), createdBy: 'RUN make install' },
    ]);
    second = await pushImage('dana/app', '2', [
      { bytes: Buffer.alloc(3000, 1), createdBy: 'ADD rootfs.tar /' },
      { bytes: Buffer.alloc(2500, 5), createdBy: 'RUN make install-more' },
    ]);
    await pushImage('dana/web-tool', 'latest', [{ bytes: Buffer.alloc(500, 3), createdBy: 'COPY tool /bin/' }]);
    await pushImage('dana/zeta', 'latest', [{ bytes: Buffer.alloc(700, 4), createdBy: 'COPY z /bin/' }]);
    // app is pulled most, web-tool gets the star, zeta is pushed last.
    for (let i = 0; i < 3; i++) await pull('dana/app', '1');
    // Pull counts are written in batches about once a second.
    await waitFor('the three pulls to be counted', async () => {
      const res = await fetch(url('/api/repositories/dana/app'));
      return ((await res.json()) as { pull_count?: number }).pull_count === 3;
    });
    await page.goto(url('/r/dana/web-tool'));
    await Promise.all([page.waitForLoadState('load'), page.click('form[action$="/star"] button')]);
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await wharf?.cleanup();
  }, TIMEOUT);

  const cards = (p: Page) =>
    p.locator('ul.results li.repo-card').evaluateAll((els) => els.map((e) => e.getAttribute('data-repo')));

  it(
    'explore sorts by stars and pulls, filters to starred and mine, and passes axe at 1280 and 390 px',
    async () => {
      await page.goto(url('/search?sort=pulls'));
      expect((await cards(page))[0]).toBe('dana/app');
      expect(await page.locator('li[data-repo="dana/app"] [data-test=pulls]').textContent()).toContain('3 pulls');
      await page.goto(url('/search?sort=stars'));
      expect((await cards(page))[0]).toBe('dana/web-tool');
      await page.goto(url('/search?sort=updated'));
      expect((await cards(page))[0]).toBe('dana/zeta');
      await page.goto(url('/search?filter=starred'));
      expect(await cards(page)).toEqual(['dana/web-tool']);
      await page.goto(url('/search?filter=mine&sort=updated'));
      expect(await cards(page)).toEqual(['dana/zeta', 'dana/web-tool', 'dana/app']);
      // The official filter: none of these is official.
      await page.goto(url('/search?filter=official'));
      expect(await cards(page)).toEqual([]);
      // A relative time with the absolute one on hover.
      const time = page.locator('li[data-repo="dana/app"] time').first();
      await page.goto(url('/search?sort=pulls'));
      expect(await time.getAttribute('title')).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
      expect(await time.textContent()).toMatch(/ago|just now/);
      await checkPage('explore', '/search?sort=pulls&filter=mine');
    },
    TIMEOUT,
  );

  it(
    'search finds by name, counts the results, and passes axe at 1280 and 390 px',
    async () => {
      await page.goto(url('/search?q=tool'));
      expect(await cards(page)).toEqual(['dana/web-tool']);
      expect(await page.locator('[data-test=count]').textContent()).toContain('1 of 1 repository');
      await checkPage('search', '/search?q=app');
    },
    TIMEOUT,
  );

  it(
    'the repository tabs: overview, tags with filter and sort and a docker pull line per tag, settings on a grid',
    async () => {
      await page.goto(url('/r/dana/app'));
      expect(await page.locator('nav.tabs a[aria-current=page]').textContent()).toBe('Overview');
      await page.goto(url('/r/dana/app/tags?name=1&sort=name'));
      expect(await page.locator('.tag-list > li').evaluateAll((e) => e.map((x) => x.getAttribute('data-tag')))).toEqual(
        ['1'],
      );
      expect(await page.locator('.tag-list td').first().textContent()).toBe('linux/amd64');
      await page.goto(url('/r/dana/app/tags?name=nothing'));
      expect(await page.locator('.tag-list > li').count()).toBe(0);
      await checkPage('repository-overview', '/r/dana/app');
      await checkPage('repository-tags', '/r/dana/app/tags');
      await checkPage('settings', '/r/dana/app/settings');
      // The settings sections sit side by side on a desktop.
      await page.goto(url('/r/dana/app/settings'));
      const general = await page.locator('section[aria-labelledby=s-general]').boundingBox();
      const collaborators = await page.locator('section[aria-labelledby=s-collaborators]').boundingBox();
      expect(general && collaborators && Math.abs(general.y - collaborators.y) < 2).toBe(true);
      expect(await page.locator('#retention').count()).toBe(1);
    },
    TIMEOUT,
  );

  it(
    'the tag page lists the pushed layers with their commands, sizes and digests, and the config',
    async () => {
      await page.goto(url('/r/dana/app/tags/1'));
      const rows = await page
        .locator('table.layers tbody tr')
        .evaluateAll((trs) =>
          trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim() ?? '')),
        );
      expect(rows).toEqual(
        pushed.layers.map((l, i) => [
          String(i + 1),
          l.digest.slice(0, 19),
          `${(l.size / 1000).toFixed(2)} KB`,
          l.createdBy,
        ]),
      );
      const config = await page.locator('table.config').textContent();
      for (const s of ['["/bin/app"]', '["--serve"]', '8080/tcp', 'APP_MODE=test', 'org.example.team=dana']) {
        expect(config).toContain(s);
      }
      // The manifest JSON on demand.
      expect(await page.locator('details pre.json').isVisible()).toBe(false);
      await page.click('details summary');
      expect(JSON.parse((await page.locator('details pre.json').textContent()) ?? '')).toMatchObject({
        layers: pushed.layers.map((l) => ({ digest: l.digest, size: l.size })),
      });
      await checkPage('tag', '/r/dana/app/tags/1');
    },
    TIMEOUT,
  );

  it(
    "the charts draw the data: the tag's size at each push, the repository's pulls per day",
    async () => {
      await page.goto(url('/r/dana/app/tags/1'));
      const points = await page
        .locator('[data-test=size-chart] circle.dot')
        .evaluateAll((dots) => dots.map((d) => Number(d.getAttribute('data-value'))));
      expect(points).toEqual([firstPush.size, pushed.size]);
      // Higher on the chart is bigger: the second push (more layers) sits above the first.
      const ys = await page
        .locator('[data-test=size-chart] circle.dot')
        .evaluateAll((dots) => dots.map((d) => Number(d.getAttribute('cy'))));
      expect(ys[1]).toBeLessThan(ys[0] as number);
      await page.goto(url('/r/dana/app'));
      const bars = await page
        .locator('[data-test=pulls-chart] rect.bar')
        .evaluateAll((rects) => rects.map((r) => [r.getAttribute('data-label'), Number(r.getAttribute('data-value'))]));
      expect(bars).toHaveLength(30);
      const today = new Date().toISOString().slice(0, 10);
      expect(bars[29]).toEqual([today, 3]);
      expect(bars.slice(0, 29).every(([, v]) => v === 0)).toBe(true);
    },
    TIMEOUT,
  );

  it(
    'the compare view shows the layers shared, added and removed, and the size difference',
    async () => {
      await page.goto(url('/r/dana/app/tags/1'));
      await page.selectOption('form[action$="/compare"] select[name=b]', '2');
      await Promise.all([page.waitForURL(/\/compare\?a=1&b=2/), page.click('form[action$="/compare"] button')]);
      const digests = (kind: string) =>
        page
          .locator(`table[data-kind=${kind}] tbody tr`)
          .evaluateAll((trs) => trs.map((t) => t.getAttribute('data-digest')));
      const inFirst = new Set(pushed.layers.map((l) => l.digest));
      const inSecond = new Set(second.layers.map((l) => l.digest));
      expect(await digests('shared')).toEqual(second.layers.filter((l) => inFirst.has(l.digest)).map((l) => l.digest));
      expect(await digests('added')).toEqual(second.layers.filter((l) => !inFirst.has(l.digest)).map((l) => l.digest));
      expect(await digests('removed')).toEqual(
        pushed.layers.filter((l) => !inSecond.has(l.digest)).map((l) => l.digest),
      );
      expect(await digests('shared')).toHaveLength(1);
      const diff = second.size - pushed.size;
      expect(await page.locator('[data-test=size-diff]').textContent()).toContain(`+${(diff / 1000).toFixed(2)} KB`);
      await checkPage('compare', '/r/dana/app/compare?a=1&b=2');
    },
    TIMEOUT,
  );

  it(
    'the copy button puts the exact docker pull line on the clipboard',
    async () => {
      await page.goto(url('/r/dana/app/tags/1'));
      const button = page.locator('main .pull button.copy').first();
      expect(await button.isVisible()).toBe(true);
      await button.click();
      await expect.poll(() => button.textContent()).toBe('Copied');
      const clipboard = () =>
        (
          globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }
        ).navigator.clipboard.readText();
      expect(await page.evaluate(clipboard)).toBe(`docker pull ${wharf.host}/dana/app:1`);
    },
    TIMEOUT,
  );

  it(
    'the dashboard shows my repositories, starred ones and recent pushes; the menu offers new repository and organization',
    async () => {
      await page.goto(url('/dashboard'));
      const mine = page.locator('section[aria-labelledby=d-mine] li.repo-card');
      expect(await mine.evaluateAll((e) => e.map((x) => x.getAttribute('data-repo')))).toEqual([
        'dana/zeta',
        'dana/web-tool',
        'dana/app',
      ]);
      expect(await page.locator('section[aria-labelledby=d-pushes]').textContent()).toContain('dana/app:1');
      await page.click('header details.menu summary');
      const menu = await page.locator('header .menu-items').textContent();
      expect(menu).toContain('New repository');
      expect(menu).toContain('New organization');
      await checkPage('dashboard', '/dashboard');
      await checkPage('profile', '/u/dana');
      await checkPage('new-repository', '/new');
    },
    TIMEOUT,
  );

  it(
    'radio buttons and checkboxes sit on the line of their labels',
    async () => {
      for (const width of WIDTHS) {
        await page.setViewportSize({ width, height: 900 });
        for (const path of ['/new', '/r/dana/app/settings', '/search']) {
          await page.goto(url(path));
          const boxes = await page.locator('label.check').evaluateAll((labels) =>
            labels.map((label) => {
              type Rect = { top: number; bottom: number; left: number; right: number; width: number };
              const input = label.querySelector('input') as unknown as { type: string; getBoundingClientRect(): Rect };
              const doc = (
                globalThis as unknown as {
                  document: {
                    createRange(): { selectNodeContents(n: unknown): void; getClientRects(): Iterable<Rect> };
                  };
                }
              ).document;
              const range = doc.createRange();
              range.selectNodeContents(label);
              const text = [...range.getClientRects()].filter(
                (r) => r.width > 0 && r.left > input.getBoundingClientRect().right - 1,
              );
              const i = input.getBoundingClientRect();
              return {
                type: input.type,
                input: { top: i.top, bottom: i.bottom, right: i.right },
                text: text.map((r) => ({ top: r.top, bottom: r.bottom, left: r.left })),
              };
            }),
          );
          expect(boxes.length, path).toBeGreaterThan(0);
          for (const b of boxes) {
            // Some text of the label is to the right of the input, and the input's middle is within that line.
            expect(b.text.length, `${path} ${b.type}`).toBeGreaterThan(0);
            const mid = (b.input.top + b.input.bottom) / 2;
            expect(
              b.text.some((t) => t.left >= b.input.right && mid >= t.top && mid <= t.bottom),
              `${path} ${b.type}`,
            ).toBe(true);
          }
        }
      }
      await page.setViewportSize({ width: 1280, height: 900 });
    },
    TIMEOUT,
  );

  it(
    'without JavaScript every page renders and the forms submit',
    async () => {
      const context = await browser.newContext({ javaScriptEnabled: false });
      const p = await context.newPage();
      await p.goto(url('/signin'));
      await p.fill('input[name=username]', 'dana');
      await p.fill('input[name=password]', PASSWORD);
      await Promise.all([p.waitForURL(url('/')), p.click('main button[type=submit]')]);
      for (const path of [
        '/',
        '/search?q=app',
        '/r/dana/app',
        '/r/dana/app/tags',
        '/r/dana/app/tags/1',
        '/r/dana/app/compare?a=1&b=2',
        '/r/dana/app/settings',
        '/dashboard',
        '/u/dana',
        '/new',
      ]) {
        const res = await p.goto(url(path));
        expect(res?.status(), path).toBe(200);
        expect((await p.locator('main h1').first().textContent())?.length, path).toBeGreaterThan(0);
      }
      // Without scripts the copy button stays hidden: the pull line is there to select.
      await p.goto(url('/r/dana/app/tags/1'));
      expect(await p.locator('main .pull button.copy').first().isVisible()).toBe(false);
      // Explore's filter form.
      await p.goto(url('/search'));
      await p.selectOption('select[name=sort]', 'stars');
      await p.check('input[name=filter][value=starred]');
      await Promise.all([p.waitForURL(/filter=starred/), p.click('form.filters button[type=submit]')]);
      expect(await cards(p)).toEqual(['dana/web-tool']);
      // The tags filter.
      await p.goto(url('/r/dana/app/tags'));
      await p.fill('form.toolbar input[name=name]', 'zzz');
      await Promise.all([p.waitForURL(/name=zzz/), p.click('form.toolbar button[type=submit]')]);
      expect(await p.locator('.tag-list > li').count()).toBe(0);
      // A POST form: a new private repository with the radio button, then its settings.
      await p.goto(url('/new'));
      await p.fill('input[name=name]', 'nojs');
      await p.check('input[name=visibility][value=private]');
      await Promise.all([p.waitForURL(url('/r/dana/nojs')), p.click('form[action="/new"] button[type=submit]')]);
      expect(await p.locator('.repo-head .badge.private').textContent()).toBe('Private');
      await p.goto(url('/r/dana/nojs/settings'));
      await p.fill('form[action$="/settings/general"] input[name=description]', 'made without scripts');
      await Promise.all([p.waitForLoadState('load'), p.click('form[action$="/settings/general"] button[type=submit]')]);
      await p.goto(url('/r/dana/nojs'));
      expect(await p.locator('.repo-head .lead').textContent()).toBe('made without scripts');
      // A refused name is shown next to the field.
      await p.goto(url('/new'));
      await p.fill('input[name=name]', 'nojs');
      await Promise.all([p.waitForLoadState('load'), p.click('form[action="/new"] button[type=submit]')]);
      expect(await p.locator('#new-name').getAttribute('aria-invalid')).toBe('true');
      expect((await p.locator('.field .field-error').textContent())?.length).toBeGreaterThan(0);
      await context.close();
    },
    TIMEOUT,
  );
});
