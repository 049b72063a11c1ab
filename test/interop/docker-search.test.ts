// `docker search 127.0.0.1:PORT/TERM` against Wharf, through a private Docker engine, next to
// `wharf search` (issue "search", must show 1 and 2):
// 1. both list the same repositories in the same order with the same columns (and, issue 6, the
//    hub's ranking, descriptions and stars);
// 2. in token mode a private repository shows only for an account that may pull it — logged in
//    with `docker login` (Docker then holds an identity token: it fetches a token for
//    registry:catalog:search and searches with it), or with stored credentials for
//    `wharf search` — and never anonymously.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { startWharf, WHARF_BIN, type WharfProcess, wharfAdmin } from '../support/server.js';
import { interopDescribe, removeTmpDir, run, tmpDir } from '../support/tools.js';

const TIMEOUT = 180_000;
const PASSWORDS = { alice: 'alice-Secret-1', bob: 'bob-Secret-2' };
const TOKEN_ENV = { WHARF_AUTH_MODE: 'token', WHARF_ADMIN_PASSWORD: 'admin-Secret-0', WHARF_LOG_LEVEL: 'info' };

interopDescribe('docker search and wharf search against Wharf', ['dockerd', 'docker', 'busybox'], () => {
  let d: Dockerd;
  let open: WharfProcess;
  let secured: WharfProcess;
  let home: string;
  const opts = { timeoutMs: TIMEOUT };

  /** `wharf search …` with its own (empty unless written) config and no Docker config. */
  function wharfSearch(args: string[], env: NodeJS.ProcessEnv = {}) {
    return run(process.execPath, [WHARF_BIN, 'search', ...args], {
      ...opts,
      env: {
        ...process.env,
        HOME: home,
        WHARF_CONFIG_DIR: join(home, 'wharf'),
        DOCKER_CONFIG: join(home, 'no-docker'),
        ...env,
      },
    });
  }

  async function same(args: string[]): Promise<string> {
    const docker = await d.docker(['search', ...args], opts);
    const wharf = await wharfSearch(args);
    expect(docker.code, docker.stderr).toBe(0);
    expect(wharf.code, wharf.stderr).toBe(0);
    expect(wharf.stdout).toBe(docker.stdout);
    return docker.stdout;
  }

  const names = (table: string) =>
    table
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((line) => line.split(' ')[0]);

  /**
   * The last `expected.length` requests logged, once they are `expected` or after ten seconds (a
   * request is logged after its answer is sent, so the line can arrive later on a loaded machine).
   */
  async function lastRequests(server: WharfProcess, expected: string[]): Promise<string[]> {
    const last = () => requests(server).slice(-expected.length);
    for (let i = 0; i < 500 && JSON.stringify(last()) !== JSON.stringify(expected); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    return last();
  }

  /** `METHOD url` of each request the server logged (it runs with WHARF_LOG_LEVEL=info). */
  function requests(server: WharfProcess): string[] {
    return server
      .log()
      .split('\n')
      .filter((line) => line.includes('"msg":"request"'))
      .map((line) => JSON.parse(line) as { method: string; url: string })
      .map((r) => `${r.method} ${r.url}`);
  }

  function login(user: keyof typeof PASSWORDS) {
    return d.dockerOk(['login', secured.host, '-u', user, '--password-stdin'], { ...opts, input: PASSWORDS[user] });
  }

  beforeAll(async () => {
    [d, open, secured, home] = await Promise.all([
      startDockerd(),
      startWharf(),
      startWharf({ env: TOKEN_ENV }),
      tmpDir('wharf-search-home-'),
    ]);
    for (const user of ['alice', 'bob'] as const) {
      await wharfAdmin(['user', 'add', user, '--password-stdin', '--data', secured.dataDir], `${PASSWORDS[user]}\n`);
    }
    await makeBusyboxImage(d, 'search-base:1');
    // Real pushes under several names: the same image, so every push after the first is quick.
    for (const name of ['tools/busybox-extra', 'busybox', 'mybusybox', 'library/busybox', 'alpine']) {
      await d.dockerOk(['tag', 'search-base:1', `${open.host}/${name}:1`], opts);
      await d.dockerOk(['push', `${open.host}/${name}:1`], opts);
    }
    await login('alice');
    for (const name of ['alice/app-private', 'alice/app-public']) {
      await d.dockerOk(['tag', 'search-base:1', `${secured.host}/${name}:1`], opts);
      await d.dockerOk(['push', `${secured.host}/${name}:1`], opts);
    }
    await wharfAdmin(['repo', 'visibility', 'alice/app-private', 'private', '--data', secured.dataDir]);
  }, TIMEOUT);

  afterAll(async () => {
    await Promise.all([d?.stop(), open?.cleanup(), secured?.cleanup(), home ? removeTmpDir(home) : undefined]);
  }, TIMEOUT);

  it(
    'docker search and wharf search print the same table: same repositories, order and columns',
    async () => {
      const table = await same([`${open.host}/busybox`]);
      expect(table.split('\n')[0]).toMatch(/^NAME +DESCRIPTION +STARS +OFFICIAL$/);
      // Exact name, then the name's last component, then a component starting with the term, then
      // a mere substring; alpine does not match.
      expect(names(table)).toEqual(['busybox', 'library/busybox', 'tools/busybox-extra', 'mybusybox']);
    },
    TIMEOUT,
  );

  it(
    'the same with --limit, --no-trunc, --filter and --format',
    async () => {
      expect(names(await same(['--limit', '2', `${open.host}/busybox`]))).toEqual(['busybox', 'library/busybox']);
      expect(names(await same(['--no-trunc', `${open.host}/box`]))).toEqual([
        'busybox',
        'library/busybox',
        'mybusybox',
        'tools/busybox-extra',
      ]);
      await same(['--filter', 'stars=0', `${open.host}/busybox`]);
      expect(names(await same(['--filter', 'is-official=true', `${open.host}/busybox`]))).toEqual([]);
      expect(await same(['--format', '{{.Name}}: {{.StarCount}}', `${open.host}/alpine`])).toBe('alpine: 0\n');
      await same(['--format', 'json', `${open.host}/busybox`]);
      expect(names(await same([`${open.host}/nothing-like-this`]))).toEqual([]);
    },
    TIMEOUT,
  );

  it(
    'errors: the same message for a limit out of range and an unknown filter',
    async () => {
      for (const args of [
        ['--limit', '101', `${open.host}/busybox`],
        ['--filter', 'color=blue', `${open.host}/busybox`],
      ]) {
        const docker = await d.docker(['search', ...args], opts);
        const wharf = await wharfSearch(args);
        expect(docker.code).not.toBe(0);
        expect(wharf.code).toBe(1);
        expect(wharf.stderr.toLowerCase()).toBe(docker.stderr.toLowerCase());
      }
    },
    TIMEOUT,
  );

  it(
    'token mode: docker search shows a private repository to its owner logged in with docker login, not anonymously',
    async () => {
      await d.dockerOk(['logout', secured.host], opts);
      expect(names(await d.dockerOk(['search', `${secured.host}/app`], opts))).toEqual(['alice/app-public']);

      await login('alice');
      const asAlice = await d.dockerOk(['search', `${secured.host}/app`], opts);
      expect(names(asAlice)).toEqual(['alice/app-private', 'alice/app-public']);
      // How: the daemon learnt the challenge from /v2/, got a token with its identity token
      // (the OAuth2 POST) and sent it with the search.
      const viaToken = ['GET /v2/', 'POST /token', 'GET /v1/search?q=app&n=25'];
      expect(await lastRequests(secured, viaToken)).toEqual(viaToken);

      // Another account does not see it.
      await login('bob');
      expect(names(await d.dockerOk(['search', `${secured.host}/app`], opts))).toEqual(['alice/app-public']);

      // A config.json with a username and password (no identity token): the daemon sends Basic
      // with the search (its X-Docker-Token rule), checked against the accounts.
      const config = join(d.env.DOCKER_CONFIG ?? '', 'config.json');
      const auth = Buffer.from(`alice:${PASSWORDS.alice}`).toString('base64');
      await writeFile(config, JSON.stringify({ auths: { [secured.host]: { auth } } }));
      expect(names(await d.dockerOk(['search', `${secured.host}/app`], opts))).toEqual([
        'alice/app-private',
        'alice/app-public',
      ]);
      expect(await lastRequests(secured, ['GET /v1/search?q=app&n=25'])).toEqual(['GET /v1/search?q=app&n=25']);
      await login('alice');
    },
    TIMEOUT,
  );

  it(
    "token mode: wharf search sees what the stored credentials may pull, with Docker's table",
    async () => {
      const term = `${secured.host}/app`;
      // Anonymous: no credentials anywhere.
      expect(names((await wharfSearch([term])).stdout)).toEqual(['alice/app-public']);

      // Docker's config.json of the engine above (alice, logged in: an identity token).
      const withIdentityToken = await wharfSearch([term], { DOCKER_CONFIG: d.env.DOCKER_CONFIG });
      expect(withIdentityToken.code, withIdentityToken.stderr).toBe(0);
      expect(withIdentityToken.stdout).toBe(await d.dockerOk(['search', term], opts));

      // A username and password in Wharf's config.json (Basic with the search).
      const dir = join(home, 'wharf-basic');
      await mkdir(dir, { recursive: true });
      const auth = (user: keyof typeof PASSWORDS) => Buffer.from(`${user}:${PASSWORDS[user]}`).toString('base64');
      await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [secured.host]: { auth: auth('alice') } } }));
      expect(names((await wharfSearch([term], { WHARF_CONFIG_DIR: dir })).stdout)).toEqual([
        'alice/app-private',
        'alice/app-public',
      ]);
      await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [secured.host]: { auth: auth('bob') } } }));
      expect(names((await wharfSearch([term], { WHARF_CONFIG_DIR: dir })).stdout)).toEqual(['alice/app-public']);

      // A wrong password is an error, not an anonymous answer.
      const wrong = Buffer.from('alice:not-the-password').toString('base64');
      await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [secured.host]: { auth: wrong } } }));
      const refused = await wharfSearch([term], { WHARF_CONFIG_DIR: dir });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe('Error response from daemon: unexpected status code 401\n');
    },
    TIMEOUT,
  );

  it(
    "the hub's descriptions and stars (set through /api) show in docker search and wharf search, ranked by stars",
    async () => {
      const api = async (user: keyof typeof PASSWORDS, method: string, path: string, body?: unknown) => {
        const res = await fetch(`${secured.url}/api${path}`, {
          method,
          headers: {
            authorization: `Basic ${Buffer.from(`${user}:${PASSWORDS[user]}`).toString('base64')}`,
            // API writes are declared JSON, body or not.
            ...(method === 'GET' ? {} : { 'content-type': 'application/json' }),
          },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      expect(
        (await api('bob', 'POST', '/repositories/bob', { name: 'app-tools', description: 'Tools for the app' })).status,
      ).toBe(201);
      expect(
        (await api('alice', 'PATCH', '/repositories/alice/app-public', { description: 'The public app' })).status,
      ).toBe(200);
      expect((await api('bob', 'POST', '/repositories/alice/app-public/star')).body.star_count).toBe(1);
      expect((await api('alice', 'POST', '/repositories/alice/app-public/star')).body.star_count).toBe(2);
      // The plan limit through the API: alice/app-private is her one private repository.
      const refused = await api('alice', 'POST', '/repositories/alice', { name: 'another', is_private: true });
      expect(refused.status).toBe(403);
      expect(JSON.stringify(refused.body)).toContain('allows 1 private repository');

      await d.dockerOk(['logout', secured.host], opts);
      const anonymous = await d.dockerOk(['search', `${secured.host}/app`], opts);
      expect(anonymous.trimEnd().split('\n').slice(1)).toEqual([
        expect.stringMatching(/^alice\/app-public +The public app +2 *$/),
        expect.stringMatching(/^bob\/app-tools +Tools for the app +0 *$/),
      ]);
      expect((await wharfSearch([`${secured.host}/app`])).stdout).toBe(anonymous);
      await login('alice');
      const asAlice = await d.dockerOk(['search', `${secured.host}/app`], opts);
      expect(names(asAlice)[0]).toBe('alice/app-public');
      expect(names(asAlice).sort()).toEqual(['alice/app-private', 'alice/app-public', 'bob/app-tools']);
    },
    TIMEOUT,
  );

  it(
    'an official mark (given by an admin) shows as [OK] in docker search and wharf search, library/x as x, first',
    async () => {
      await wharfAdmin(['repo', 'official', 'library/busybox', 'on', '--data', open.dataDir]);
      const term = `${open.host}/busybox`;
      const table = await d.dockerOk(['search', term], opts);
      const rows = table.trimEnd().split('\n').slice(1);
      expect(rows[0]).toMatch(/^busybox +0 +\[OK\]$/);
      expect(rows.filter((r) => r.includes('[OK]'))).toHaveLength(1);
      expect((await wharfSearch([term])).stdout).toBe(table);
      const official = await same(['--filter', 'is-official=true', term]);
      expect(names(official)).toEqual(['busybox']);
    },
    TIMEOUT,
  );

  it(
    'an official library/x is pulled as x (docker pull HOST/x), and only once it is official',
    async () => {
      const ref = `${open.host}/library/only-official:1`;
      await d.dockerOk(['tag', 'search-base:1', ref], opts);
      await d.dockerOk(['push', ref], opts);
      const short = `${open.host}/only-official:1`;
      const before = await d.docker(['pull', short], opts);
      expect(before.code).toBe(1);
      expect(before.stderr).toMatch(/not found|does not exist/);
      await wharfAdmin(['repo', 'official', 'library/only-official', 'on', '--data', open.dataDir]);
      await d.dockerOk(['pull', short], opts);
      const id = async (r: string) => (await d.dockerOk(['image', 'inspect', '--format', '{{.Id}}', r], opts)).trim();
      expect(await id(short)).toBe(await id(ref));
    },
    TIMEOUT,
  );
});
