// The private-repository limit against concurrent `docker push`es (issue 10): a namespace whose
// default is private, on the free plan (1 private repository), gets three pushes to three new
// repositories at once. Each docker asks /token while none of them exists, so the token check
// alone would let all three through; the check where the row is created lets one. Whatever the
// timing, exactly one push succeeds, and the others fail with Docker's "denied: …".
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { startWharf, type WharfProcess, wharfAdmin } from '../support/server.js';
import { interopDescribe } from '../support/tools.js';

const TIMEOUT = 180_000;
const PASSWORD = 'alice-Secret-1';

interopDescribe('the plan limit against concurrent docker pushes', ['dockerd', 'docker', 'busybox'], () => {
  let d: Dockerd;
  let wharf: WharfProcess;
  const opts = { timeoutMs: TIMEOUT };
  const auth = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;

  beforeAll(async () => {
    [d, wharf] = await Promise.all([
      startDockerd(),
      startWharf({ env: { WHARF_AUTH_MODE: 'token', WHARF_ADMIN_PASSWORD: 'admin-Secret-0' } }),
    ]);
    await wharfAdmin(['user', 'add', 'alice', '--password-stdin', '--data', wharf.dataDir], `${PASSWORD}\n`);
    await makeBusyboxImage(d, 'plan-base:1');
    const login = await d.docker(['login', wharf.host, '-u', 'alice', '--password-stdin'], {
      ...opts,
      input: `${PASSWORD}\n`,
    });
    expect(login.code, login.stderr).toBe(0);
  }, TIMEOUT);

  afterAll(async () => {
    await Promise.all([d?.stop(), wharf?.cleanup()]);
  }, TIMEOUT);

  it(
    'three pushes at once into a private-by-default namespace on the free plan: one private repository',
    async () => {
      const patch = await fetch(`${wharf.url}/api/user`, {
        method: 'PATCH',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({ default_visibility: 'private' }),
      });
      expect(patch.status).toBe(200);
      const refs = ['one', 'two', 'three'].map((n) => `${wharf.host}/alice/${n}:1`);
      for (const ref of refs) await d.dockerOk(['tag', 'plan-base:1', ref], opts);
      const results = await Promise.all(refs.map((ref) => d.docker(['push', ref], opts)));
      const ok = results.filter((r) => r.code === 0);
      expect(ok, results.map((r) => r.stderr).join('\n')).toHaveLength(1);
      for (const r of results.filter((r) => r.code !== 0)) expect(r.stderr).toContain('denied: ');

      const listed = await fetch(`${wharf.url}/api/repositories/alice`, { headers: { authorization: auth } });
      const repos = ((await listed.json()) as { results: { name: string; is_private: boolean }[] }).results;
      expect(repos).toHaveLength(1);
      expect(repos[0]?.is_private).toBe(true);
    },
    TIMEOUT,
  );
});
