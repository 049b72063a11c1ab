// Storage quotas with the real Docker engine (issue 11, "Must show"): a namespace whose plan has
// a 10 MiB quota pushes a small image, cannot push a 20 MiB one (docker shows the quota and the
// usage), can still pull, and stays refused after its tag is deleted as long as the bytes are
// still in the store (usage counts what the store holds), and pushes again once garbage collection
// has taken them. `wharf serve` in token mode (GC without a review delay, run on demand through the
// admin API), a private dockerd, the plan set with `wharf user plan … --quota`.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { commitLayer, type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { prngBytes } from '../support/generated-blob.js';
import { startWharf, type WharfProcess, wharfAdmin } from '../support/server.js';
import { interopDescribe } from '../support/tools.js';

const TIMEOUT = 300_000;
const PASSWORD = 'alice-Secret-1';
const ENV = {
  WHARF_AUTH_MODE: 'token',
  WHARF_ADMIN_PASSWORD: 'admin-Secret-0',
  // GC only when the test asks (POST /api/admin/gc), and then whatever is unreferenced goes.
  WHARF_GC_REVIEW_DELAY: '0s',
  WHARF_GC_INTERVAL: '1h',
};
const MiB = 1024 * 1024;

interopDescribe('storage quotas with the real Docker engine', ['dockerd', 'docker', 'busybox'], () => {
  let d: Dockerd;
  let wharf: WharfProcess;
  const opts = { timeoutMs: TIMEOUT };
  const ref = (name: string) => `${wharf.host}/${name}`;
  const basic = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;

  async function usage(): Promise<{ total_bytes: number; quota_bytes: number | null }> {
    const res = await fetch(`${wharf.url}/api/namespaces/alice/usage`, { headers: { authorization: basic } });
    expect(res.status).toBe(200);
    return (await res.json()) as { total_bytes: number; quota_bytes: number | null };
  }

  beforeAll(async () => {
    [d, wharf] = await Promise.all([startDockerd(), startWharf({ env: ENV })]);
    await wharfAdmin(['user', 'add', 'alice', '--password-stdin', '--data', wharf.dataDir], `${PASSWORD}\n`);
    const set = await wharfAdmin(['user', 'plan', 'alice', 'ci-small', '--quota', '10MiB', '--data', wharf.dataDir]);
    expect(set).toMatch(/^alice: plan ci-small, 0 of 0 private repositories, 0 B of 10\.0 MiB storage$/m);
    await makeBusyboxImage(d, 'quota-base:1');
    // 20 MiB of random bytes: the layer stays about that size compressed.
    await commitLayer(d, 'quota-base:1', 'quota-big:1', 'data/random.bin', prngBytes(7, 20 * MiB));
    // Two 6 MiB images: one fits beside the small one, both do not.
    await commitLayer(d, 'quota-base:1', 'quota-mid:1', 'data/random.bin', prngBytes(8, 6 * MiB));
    await commitLayer(d, 'quota-base:1', 'quota-mid:2', 'data/random.bin', prngBytes(9, 6 * MiB));
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
    'a 10 MiB quota: a small image pushes, a 20 MiB one is refused with the quota in docker’s message, pulls go on',
    async () => {
      await d.dockerOk(['tag', 'quota-base:1', ref('alice/small:1')], opts);
      const small = await d.docker(['push', ref('alice/small:1')], opts);
      expect(small.code, small.stderr).toBe(0);
      const before = await usage();
      expect(before.quota_bytes).toBe(10 * 1024 * 1024);
      expect(before.total_bytes).toBeGreaterThan(0);

      await d.dockerOk(['tag', 'quota-big:1', ref('alice/big:1')], opts);
      const big = await d.docker(['push', ref('alice/big:1')], opts);
      expect(big.code).not.toBe(0);
      const output = big.stdout + big.stderr;
      expect(output).toContain('denied: storage quota exceeded: namespace alice uses');
      expect(output).toContain('of its 10.0 MiB quota (plan ci-small); this push needs 20.0 MiB more');
      // Nothing over the quota was stored, nothing stored was lost.
      const after = await usage();
      expect(after.total_bytes).toBeLessThanOrEqual(10 * 1024 * 1024);
      expect(after.total_bytes).toBeGreaterThanOrEqual(before.total_bytes);

      await d.dockerOk(['rmi', ref('alice/small:1')], opts);
      const pull = await d.docker(['pull', ref('alice/small:1')], opts);
      expect(pull.code, pull.stderr).toBe(0);
      expect((await d.dockerOk(['image', 'inspect', '-f', '{{.Id}}', ref('alice/small:1')], opts)).trim()).toBe(
        (await d.dockerOk(['image', 'inspect', '-f', '{{.Id}}', 'quota-base:1'], opts)).trim(),
      );
    },
    TIMEOUT,
  );

  it(
    'deleting the tag frees no room until the bytes leave the store',
    async () => {
      const token = await fetch(`${wharf.url}/token?service=wharf&scope=repository:alice/small:pull,push,delete`, {
        headers: { authorization: basic },
      });
      const { token: bearer } = (await token.json()) as { token: string };
      const del = await fetch(`${wharf.url}/v2/alice/small/manifests/1`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${bearer}` },
      });
      expect(del.status).toBe(202);
      // Usage counts what the store holds: the untagged manifest and its blobs are still there.
      const big = await d.docker(['push', ref('alice/big:1')], opts);
      expect(big.code).not.toBe(0);
      expect(big.stdout + big.stderr).toContain('denied: storage quota exceeded: namespace alice');
    },
    TIMEOUT,
  );

  it(
    'after deleting and garbage collection, a push that did not fit goes through',
    async () => {
      await d.dockerOk(['tag', 'quota-mid:1', ref('alice/mid:1')], opts);
      const first = await d.docker(['push', ref('alice/mid:1')], opts);
      expect(first.code, first.stderr).toBe(0);
      await d.dockerOk(['tag', 'quota-mid:2', ref('alice/mid:2')], opts);
      const refused = await d.docker(['push', ref('alice/mid:2')], opts);
      expect(refused.code).not.toBe(0);
      expect(refused.stdout + refused.stderr).toContain('denied: storage quota exceeded: namespace alice');

      const token = await fetch(`${wharf.url}/token?service=wharf&scope=repository:alice/mid:pull,push,delete`, {
        headers: { authorization: basic },
      });
      const { token: bearer } = (await token.json()) as { token: string };
      const del = await fetch(`${wharf.url}/v2/alice/mid/manifests/1`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${bearer}` },
      });
      expect(del.status).toBe(202);
      const held = (await usage()).total_bytes;
      const gc = await fetch(`${wharf.url}/api/admin/gc`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from('admin:admin-Secret-0').toString('base64')}`,
          'content-type': 'application/json',
        },
      });
      expect(gc.status).toBe(200);
      // The deleted tags' manifests and then their blobs (the small one's too) leave the store.
      expect((await usage()).total_bytes).toBeLessThan(held - 6 * MiB);
      const again = await d.docker(['push', ref('alice/mid:2')], opts);
      expect(again.code, again.stderr).toBe(0);
    },
    TIMEOUT,
  );
});
