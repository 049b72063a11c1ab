// `wharf login` / `wharf logout` against a Wharf server in token mode and in htpasswd mode:
// Docker's messages (checked against the docker CLI's own output for these servers), the
// config.json written (0600, identity token instead of the password when the token server gives
// one), pushes and pulls of a private repository that work only once logged in, and Docker's own
// config.json ($DOCKER_CONFIG, ~/.docker) read as a fallback.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createImage } from '../../src/engine/new-image.js';
import { withLocalStore } from '../../src/engine/store.js';
import { makeLayer } from '../support/oci-layout.js';
import { startWharf, WHARF_BIN, type WharfProcess, wharfAdmin } from '../support/server.js';
import { interopDescribe, type RunResult, removeTmpDir, run, runOk, tmpDir } from '../support/tools.js';

const TOKEN_ENV = { WHARF_AUTH_MODE: 'token', WHARF_ADMIN_PASSWORD: 'admin-Secret-1' };
const ALICE_PW = 'alice-Secret-1';
const BOB_PW = 'bob-pw-1';
const b64 = (s: string) => Buffer.from(s).toString('base64');

interface Auths {
  auths?: Record<string, { auth?: string; identitytoken?: string }>;
}

interopDescribe('wharf login and logout', ['htpasswd'], () => {
  let tok: WharfProcess;
  let htp: WharfProcess;
  let dir: string;
  let imageId: string;
  /** Wharf's config directory, HOME and the store of the "user" running wharf. */
  let config: string;
  let home: string;
  let root: string;

  const wharf = (
    args: string[],
    opts: { input?: string; env?: NodeJS.ProcessEnv; root?: string } = {},
  ): Promise<RunResult> =>
    run(process.execPath, [WHARF_BIN, ...args], {
      env: {
        ...process.env,
        WHARF_ROOT: opts.root ?? root,
        WHARF_CONFIG_DIR: config,
        HOME: home,
        DOCKER_CONFIG: '',
        ...opts.env,
      },
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
  const configFile = () => join(config, 'config.json');
  const readAuths = async (): Promise<Auths> => JSON.parse(await readFile(configFile(), 'utf8')) as Auths;
  const freshRoot = () => tmpDir('wharf-login-root-');

  beforeAll(async () => {
    dir = await tmpDir('wharf-login-');
    const htpasswd = join(dir, 'htpasswd');
    await runOk('htpasswd', ['-c', '-B', '-b', htpasswd, 'bob', BOB_PW]);
    [tok, htp] = await Promise.all([
      startWharf({ env: TOKEN_ENV }),
      startWharf({ env: { WHARF_AUTH_MODE: 'htpasswd', WHARF_AUTH_HTPASSWD_FILE: htpasswd } }),
    ]);
    await wharfAdmin(['user', 'add', 'alice', '--password-stdin', '--data', tok.dataDir], `${ALICE_PW}\n`);
    config = join(dir, 'wharf-config');
    home = join(dir, 'home');
    root = join(dir, 'root');
    await mkdir(home);
    const layer = await makeLayer({ 'etc/login.txt': 'private\n' });
    imageId = await withLocalStore(root, (store) =>
      createImage(store, {
        layer: Readable.from([layer.gzip]),
        config: {},
        history: { created_by: 'login test' },
        os: 'linux',
        architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
        tag: { name: `${tok.host}/alice/app`, tag: '1' },
      }),
    );
    await runOk(process.execPath, [WHARF_BIN, 'tag', '--root', root, imageId, `${htp.host}/team/app:1`]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([tok?.cleanup(), htp?.cleanup()]);
    if (dir) await removeTmpDir(dir);
  });

  it("token mode: a wrong password fails with Docker's message and stores nothing", async () => {
    const r = await wharf(['login', tok.host, '-u', 'alice', '--password-stdin'], { input: 'not-it\n' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    // What `docker login` prints for the same server (checked with Docker 28).
    expect(r.stderr).toBe(
      `Error response from daemon: Get "http://${tok.host}/v2/": unauthorized: incorrect username or password\n`,
    );
    await expect(stat(configFile())).rejects.toThrow();
  });

  it('token mode: a private repository is pushed and pulled only after login; the identity token is kept, 0600', async () => {
    const ref = `${tok.host}/alice/app:1`;
    const before = await wharf(['push', ref]);
    expect(before.code).toBe(1);
    expect(before.stderr).toMatch(/unauthorized|denied/);

    const login = await wharf(['login', tok.host, '-u', 'alice', '-p', ALICE_PW]);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toBe('Login Succeeded\n');
    expect(login.stderr).toBe('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    expect((await stat(configFile())).mode & 0o777).toBe(0o600);
    const text = await readFile(configFile(), 'utf8');
    expect(text).not.toContain(ALICE_PW);
    const entry = (await readAuths()).auths?.[tok.host];
    // As the docker CLI stores it: the user name with an empty password, and the token.
    expect(entry?.auth).toBe(b64('alice:'));
    expect(entry?.identitytoken).toMatch(/^.{16,}$/);

    const push = await wharf(['push', ref]);
    expect(push.code, push.stderr).toBe(0);
    await wharfAdmin(['repo', 'visibility', 'alice/app', 'private', '--data', tok.dataDir]);

    const other = await freshRoot();
    try {
      const pull = await wharf(['pull', ref], { root: other });
      expect(pull.code, pull.stderr).toBe(0);
      const ids = await wharf(['images', '-q', '--no-trunc', ref], { root: other });
      expect(ids.stdout).toBe(`${imageId}\n`);
    } finally {
      await removeTmpDir(other);
    }

    const logout = await wharf(['logout', tok.host]);
    expect(logout.stdout).toBe(`Removing login credentials for ${tok.host}\n`);
    expect((await readAuths()).auths?.[tok.host]).toBeUndefined();
    // Docker 28 says the same when there is nothing to remove.
    expect((await wharf(['logout', tok.host])).stdout).toBe(`Removing login credentials for ${tok.host}\n`);

    const denied = await freshRoot();
    try {
      const pull = await wharf(['pull', ref], { root: denied });
      expect(pull.code).toBe(1);
      expect(pull.stderr).toBe(
        `Error response from daemon: pull access denied for ${tok.host}/alice/app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied\n`,
      );
      expect((await wharf(['images', '-q'], { root: denied })).stdout).toBe('');
    } finally {
      await removeTmpDir(denied);
    }
  });

  it('htpasswd mode: a wrong password gets the login attempt message; the right one stores user:password', async () => {
    const wrong = await wharf(['login', htp.host, '-u', 'bob', '--password-stdin'], { input: 'nope\n' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe(
      `Error response from daemon: login attempt to http://${htp.host}/v2/ failed with status: 401 Unauthorized\n`,
    );
    const ref = `${htp.host}/team/app:1`;
    expect((await wharf(['push', ref])).code).toBe(1);

    const right = await wharf(['login', htp.host, '-u', 'bob', '--password-stdin'], { input: `${BOB_PW}\n` });
    expect(right.code, right.stderr).toBe(0);
    expect(right.stdout).toBe('Login Succeeded\n');
    expect(right.stderr).toContain(`WARNING! Your credentials are stored unencrypted in '${configFile()}'.`);
    expect((await readAuths()).auths?.[htp.host]).toEqual({ auth: b64(`bob:${BOB_PW}`) });
    expect((await stat(configFile())).mode & 0o777).toBe(0o600);

    const push = await wharf(['push', ref]);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout).toMatch(/\n1: digest: sha256:[0-9a-f]{64} size: \d+\n$/);
    expect((await wharf(['logout', htp.host])).code).toBe(0);
  });

  it("reads Docker's config.json ($DOCKER_CONFIG, then ~/.docker) when Wharf has no entry", async () => {
    const ref = `${htp.host}/team/app:1`;
    const dockerAuths = JSON.stringify({ auths: { [htp.host]: { auth: b64(`bob:${BOB_PW}`) } } });
    const attempt = async (env: NodeJS.ProcessEnv) => {
      const other = await freshRoot();
      try {
        return await wharf(['pull', ref], { root: other, env });
      } finally {
        await removeTmpDir(other);
      }
    };
    const without = await attempt({});
    expect(without.code).toBe(1);

    const dockerConfig = join(dir, 'docker-config');
    await mkdir(dockerConfig, { recursive: true });
    await writeFile(join(dockerConfig, 'config.json'), dockerAuths);
    const viaEnv = await attempt({ DOCKER_CONFIG: dockerConfig });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);

    await mkdir(join(home, '.docker'), { recursive: true });
    await writeFile(join(home, '.docker', 'config.json'), dockerAuths);
    const viaHome = await attempt({});
    expect(viaHome.code, viaHome.stderr).toBe(0);
    expect(viaHome.stdout).toContain(`Status: Downloaded newer image for ${ref}`);
  });

  it("refuses Docker's bad flag combinations with Docker's wording", async () => {
    const both = await wharf(['login', htp.host, '-u', 'a', '-p', 'b', '--password-stdin'], { input: 'x\n' });
    expect(both.stderr).toBe('conflicting options: cannot specify both --password and --password-stdin\n');
    const noUser = await wharf(['login', htp.host, '--password-stdin'], { input: 'x\n' });
    expect(noUser.stderr).toBe('the --password-stdin option requires --username to be set\n');
    // (htp.host has credentials in ~/.docker by now, which docker would try first.)
    const noTty = await wharf(['login', tok.host]);
    expect(noTty.stderr).toBe('Error: Cannot perform an interactive login from a non TTY device\n');
    for (const r of [both, noUser, noTty]) expect(r.code).toBe(1);
    expect((await wharf(['logout'])).stdout).toBe('Removing login credentials for https://index.docker.io/v1/\n');
  });
});
