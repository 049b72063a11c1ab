// Access control as the real Docker engine sees it (issue 3, "Must show"):
// Wharf in token mode on 127.0.0.1 (plain HTTP, which Docker allows for
// loopback), a private dockerd with its own DOCKER_CONFIG. `docker login`
// with the right and a wrong password, an authenticated push and pull, then
// a repository made private: after `docker logout` Docker reports its usual
// "pull access denied … may require 'docker login'", while a public
// repository is still pullable anonymously.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { commitLayer, type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { startWharf, type WharfProcess, wharfAdmin } from '../support/server.js';
import { interopDescribe } from '../support/tools.js';

const TIMEOUT = 120_000;
const PASSWORD = 'alice-Secret-1';
const TOKEN_ENV = { WHARF_AUTH_MODE: 'token', WHARF_ADMIN_PASSWORD: 'admin-Secret-1' };

interopDescribe('docker login, push and pull against Wharf in token mode', ['dockerd', 'docker', 'busybox'], () => {
  let d: Dockerd;
  let wharf: WharfProcess;
  let appId: string;
  let publicId: string;

  const opts = { timeoutMs: TIMEOUT };
  const ref = (name: string) => `${wharf.host}/${name}`;

  async function imageId(image: string): Promise<string> {
    return (await d.dockerOk(['image', 'inspect', '--format', '{{.Id}}', image], opts)).trim();
  }

  function login(password: string) {
    return d.docker(['login', wharf.host, '-u', 'alice', '--password-stdin'], { ...opts, input: `${password}\n` });
  }

  beforeAll(async () => {
    [d, wharf] = await Promise.all([startDockerd(), startWharf({ env: TOKEN_ENV })]);
    // The server created the admin account; alice is added next to the running server.
    await wharfAdmin(['user', 'add', 'alice', '--password-stdin', '--data', wharf.dataDir], `${PASSWORD}\n`);
    await makeBusyboxImage(d, 'auth-base:1');
    appId = await commitLayer(d, 'auth-base:1', 'auth-app:1', 'etc/auth/app.txt', 'app\n');
    publicId = await commitLayer(d, 'auth-base:1', 'auth-public:1', 'etc/auth/public.txt', 'public\n');
  }, TIMEOUT);

  afterAll(async () => {
    await Promise.all([d?.stop(), wharf?.cleanup()]);
  }, TIMEOUT);

  it(
    'docker login fails with unauthorized on a wrong password and succeeds with the right one',
    async () => {
      const wrong = await login('not-the-password');
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toContain('unauthorized: incorrect username or password');
      expect(wrong.stderr).not.toContain('Login Succeeded');

      const right = await login(PASSWORD);
      expect(right.code, right.stderr).toBe(0);
      expect(right.stdout).toContain('Login Succeeded');

      // The CLI stored an identity token (Wharf's refresh token), not the password.
      const config = await readFile(join(d.env.DOCKER_CONFIG ?? '', 'config.json'), 'utf8');
      const auths: unknown = (JSON.parse(config) as { auths?: unknown }).auths;
      expect(auths).toHaveProperty([wharf.host, 'identitytoken']);
      expect(config).not.toContain(PASSWORD);
      expect(config).not.toContain(Buffer.from(`alice:${PASSWORD}`).toString('base64'));
    },
    TIMEOUT,
  );

  it(
    'after login, docker push to the own namespace works and docker pull brings back the same image ID',
    async () => {
      for (const [local, name] of [
        ['auth-app:1', 'alice/app:1'],
        ['auth-public:1', 'alice/public:1'],
      ] as const) {
        await d.dockerOk(['tag', local, ref(name)], opts);
        const out = await d.dockerOk(['push', ref(name)], opts);
        expect(out).toMatch(/^1: digest: sha256:[0-9a-f]{64} size: \d+$/m);
      }

      await d.dockerOk(['rmi', ref('alice/app:1'), 'auth-app:1'], opts);
      expect((await d.docker(['image', 'inspect', appId], opts)).code).not.toBe(0);
      const out = await d.dockerOk(['pull', ref('alice/app:1')], opts);
      expect(out).toContain(`Status: Downloaded newer image for ${ref('alice/app:1')}`);
      expect(await imageId(ref('alice/app:1'))).toBe(appId);
    },
    TIMEOUT,
  );

  it(
    "after docker logout a private repository fails with Docker's pull access denied, a public one still pulls",
    async () => {
      // Made private while the server runs: it takes effect with the next token.
      await wharfAdmin(['repo', 'visibility', 'alice/app', 'private', '--data', wharf.dataDir]);
      expect(await wharfAdmin(['repo', 'show', 'alice/app', '--data', wharf.dataDir])).toMatch(/private/);

      const logout = await d.dockerOk(['logout', wharf.host], opts);
      expect(logout).toContain(`Removing login credentials for ${wharf.host}`);
      // Nothing cached locally: the pulls below have to ask the registry.
      await d.dockerOk(['rmi', ref('alice/app:1'), ref('alice/public:1'), 'auth-public:1'], opts);
      expect((await d.docker(['image', 'inspect', appId], opts)).code).not.toBe(0);
      expect((await d.docker(['image', 'inspect', publicId], opts)).code).not.toBe(0);

      const denied = await d.docker(['pull', ref('alice/app:1')], opts);
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toContain(`pull access denied for ${wharf.host}/alice/app`);
      expect(denied.stderr).toContain("repository does not exist or may require 'docker login'");

      // A repository that does not exist gets exactly the same answer (no existence leak).
      const missing = await d.docker(['pull', ref('alice/nothing:1')], opts);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr.replace('alice/nothing', 'alice/app')).toBe(denied.stderr);

      const pub = await d.dockerOk(['pull', ref('alice/public:1')], opts);
      expect(pub).toContain(`Status: Downloaded newer image for ${ref('alice/public:1')}`);
      expect(await imageId(ref('alice/public:1'))).toBe(publicId);
    },
    TIMEOUT,
  );

  it(
    'logged in again, the owner pulls the private repository',
    async () => {
      const right = await login(PASSWORD);
      expect(right.stdout).toContain('Login Succeeded');
      await d.dockerOk(['pull', ref('alice/app:1')], opts);
      expect(await imageId(ref('alice/app:1'))).toBe(appId);
    },
    TIMEOUT,
  );
});
