// Webhooks and notifications (issue 6, "Must show"): a real `skopeo copy` into a `wharf serve`
// process; the repository's webhook receives Docker Hub's payload with a valid
// X-Wharf-Signature-256; a receiver that is down gets retries with growing delays and the
// delivery arrives once it is back, even when the server was killed meanwhile; the delivery
// history shows every attempt; a configured endpoint gets Distribution's envelope; invalid
// targets are refused with a clear message. Receivers are real HTTP servers on 127.0.0.1.
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedIPv4, guardedDispatcher, isPrivateAddress } from '../../src/hub/webhooks.js';
import { writeMultiPlatformLayout } from '../support/oci-layout.js';
import { openDataDirDb, startWharf, type WharfProcess, wharfAdmin } from '../support/server.js';
import { skopeoOk } from '../support/skopeo.js';
import { freePort, interopDescribe, removeTmpDir, sleep, tmpDir } from '../support/tools.js';

const TIMEOUT = 120_000;
const PASSWORD = 'alice-Secret-1';
const SECRET = 'hook-secret-1';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An HTTP receiver on 127.0.0.1 that records every POST and answers 200. */
class Receiver {
  readonly got: Received[] = [];
  private server: Server | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.got.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async waitFor(pred: (r: Received) => boolean, ms = 20_000): Promise<Received> {
    const until = Date.now() + ms;
    for (;;) {
      const found = this.got.find(pred);
      if (found) return found;
      if (Date.now() > until) throw new Error(`nothing matching arrived; got ${JSON.stringify(this.got)}`);
      await sleep(50);
    }
  }
}

async function api(
  wharf: WharfProcess,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${wharf.url}/api${path}`, {
    method,
    headers: {
      authorization: `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`,
      ...(method === 'GET' ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as unknown) : undefined };
}

interface DeliveryView {
  id: number;
  status: string;
  attempts: number;
  attempt_log: { attempted_at: string; status_code: number | null; duration_ms: number; error: string | null }[];
}

async function deliveries(wharf: WharfProcess, hookId: number): Promise<DeliveryView[]> {
  const res = await api(wharf, 'GET', `/repositories/alice/app/webhooks/${hookId}/deliveries`);
  expect(res.status).toBe(200);
  return (res.json as { results: DeliveryView[] }).results;
}

describe('webhook target ranges', () => {
  it('refuses private, loopback, link-local and reserved addresses, also inside IPv6', () => {
    for (const ip of [
      '127.0.0.1',
      '10.1.2.3',
      '169.254.169.254',
      '198.18.0.1',
      '198.19.255.255',
      '192.0.0.8',
      '192.0.2.1',
      '::',
      '::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::127.0.0.1',
      '::a00:1',
      '::ffff:0:10.0.0.1',
      '64:ff9b::10.0.0.1',
      '64:ff9b::a9fe:a9fe',
      '64:ff9b:1::8.8.8.8',
      '2002:a00:1::1',
      '2002:7f00:1::',
      '2001::1',
      '2001:db8::1',
      'fec0::1',
      'fc00::1',
      'fe80::1%eth0',
      'ff02::1',
      'not-an-address',
    ])
      expect(isPrivateAddress(ip), ip).toBe(true);
  });

  it('accepts public addresses, also a public IPv4 inside NAT64 or 6to4', () => {
    for (const ip of [
      '8.8.8.8',
      '1.1.1.1',
      '2606:4700:4700::1111',
      '64:ff9b::8.8.8.8',
      '2002:808:808::1',
      '::ffff:8.8.8.8',
    ])
      expect(isPrivateAddress(ip), ip).toBe(false);
    expect(embeddedIPv4('64:ff9b::a9fe:a9fe')).toBe('169.254.169.254');
    expect(embeddedIPv4('2002:c0a8:101::1')).toBe('192.168.1.1');
    expect(embeddedIPv4('2606:4700::1')).toBeUndefined();
  });

  it('the delivery connection checks the addresses it resolves itself (DNS rebinding)', async () => {
    const server = createServer((_req, res) => res.writeHead(200).end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      // A name, not an address: the lookup happens in the connection and must refuse 127.0.0.1.
      const err = await undiciFetch(`http://localhost:${port}/`, { dispatcher: await guardedDispatcher() }).then(
        () => undefined,
        (e: unknown) => e as { cause?: Error },
      );
      expect(err?.cause?.name).toBe('WebhookError');
      expect(err?.cause?.message).toContain('webhooks.allow_private_targets');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

interopDescribe('webhooks and notifications', ['skopeo'], () => {
  let work: string;
  let layout: string;
  let wharf: WharfProcess;
  let hooks: Receiver;
  let notifications: Receiver;

  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    WHARF_AUTH_MODE: 'token',
    WHARF_ADMIN_PASSWORD: 'admin-Secret-1',
    WHARF_WEBHOOKS_ALLOW_PRIVATE_TARGETS: 'true',
    WHARF_WEBHOOKS_BACKOFF: '300ms',
    WHARF_WEBHOOKS_POLL_INTERVAL: '100ms',
    ...extra,
  });

  const push = (tag: string) =>
    skopeoOk([
      'copy',
      '--dest-tls-verify=false',
      '--dest-creds',
      `alice:${PASSWORD}`,
      `oci:${layout}:v1`,
      `docker://${wharf.host}/alice/app:${tag}`,
    ]);

  beforeAll(async () => {
    work = await tmpDir('wharf-webhooks');
    layout = join(work, 'layout');
    await writeMultiPlatformLayout(layout, 'v1', [{ os: 'linux', architecture: 'amd64' }]);
    hooks = new Receiver(await freePort());
    notifications = new Receiver(await freePort());
    await hooks.start();
    await notifications.start();
    wharf = await startWharf({
      env: env({
        WHARF_NOTIFICATIONS_ENDPOINTS: JSON.stringify([
          {
            name: 'audit',
            url: notifications.url,
            headers: { Authorization: 'Bearer n0tify' },
            ignored_actions: ['pull'],
          },
        ]),
      }),
    });
    await wharfAdmin(['user', 'add', 'alice', '--password-stdin', '--data', wharf.dataDir], `${PASSWORD}\n`);
    await push('v1');
  }, TIMEOUT);

  afterAll(async () => {
    await wharf?.cleanup();
    await hooks?.stop();
    await notifications?.stop();
    if (work) await removeTmpDir(work);
  }, TIMEOUT);

  it(
    'delivers Docker Hub’s payload with a valid signature after a push',
    async () => {
      const created = await api(wharf, 'POST', '/repositories/alice/app/webhooks', {
        name: 'ci',
        url: hooks.url,
        secret: SECRET,
      });
      expect(created.status).toBe(201);
      const hook = created.json as { id: number; events: string[]; has_secret: boolean; url: string };
      expect(hook).toMatchObject({ events: ['push'], has_secret: true, url: hooks.url });
      expect(JSON.stringify(created.json)).not.toContain(SECRET);

      await push('v2');
      const got = await hooks.waitFor((r) => r.body.includes('"tag":"v2"'));
      const expected = `sha256=${createHmac('sha256', SECRET).update(got.body).digest('hex')}`;
      expect(got.headers['x-wharf-signature-256']).toBe(expected);
      expect(got.headers['content-type']).toBe('application/json');
      expect(got.headers['x-wharf-event']).toBe('push');
      const payload = JSON.parse(got.body) as {
        push_data: { pushed_at: number; pusher: string; tag: string };
        repository: Record<string, unknown>;
        callback_url: string;
      };
      expect(payload.push_data.pusher).toBe('alice');
      expect(payload.push_data.tag).toBe('v2');
      expect(Math.abs(payload.push_data.pushed_at - Date.now() / 1000)).toBeLessThan(60);
      expect(payload.repository).toMatchObject({
        name: 'app',
        namespace: 'alice',
        owner: 'alice',
        repo_name: 'alice/app',
        status: 'Active',
        is_private: false,
        is_official: false,
        star_count: 0,
      });
      expect(payload.repository.repo_url).toBe(`http://${wharf.host}/r/alice/app`);
      expect(typeof payload.callback_url).toBe('string');
      // One webhook delivery per tag push: the platform manifest pushed by digest is part of it.
      expect(hooks.got.filter((r) => r.body.includes('"tag":"v2"'))).toHaveLength(1);

      const history = await deliveries(wharf, hook.id);
      expect(history[0]).toMatchObject({ status: 'delivered', attempts: 1 });
      expect(history[0]?.attempt_log).toEqual([
        expect.objectContaining({ status_code: 200, error: null, duration_ms: expect.any(Number) }),
      ]);
    },
    TIMEOUT,
  );

  it(
    'sends Distribution’s envelope to the configured endpoint, with its headers',
    async () => {
      const got = await notifications.waitFor((r) => r.body.includes('"tag":"v2"'));
      expect(got.headers['content-type']).toBe('application/vnd.docker.distribution.events.v2+json');
      expect(got.headers.authorization).toBe('Bearer n0tify');
      const { events } = JSON.parse(got.body) as { events: Array<Record<string, Record<string, unknown>>> };
      expect(events).toHaveLength(1);
      const [event] = events;
      expect(event).toMatchObject({
        action: 'push',
        // skopeo copies the one platform's image manifest out of the layout's index.
        target: { repository: 'alice/app', tag: 'v2', mediaType: 'application/vnd.oci.image.manifest.v1+json' },
        actor: { name: 'alice' },
        request: { method: 'PUT' },
      });
      expect(event?.target?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(event?.target?.size).toBe(event?.target?.length);
      expect(event?.target?.url).toBe(`http://${wharf.host}/v2/alice/app/manifests/${String(event?.target?.digest)}`);
      expect(typeof event?.id).toBe('string');
      expect(typeof event?.source?.instanceID).toBe('string');
      // Pulls are ignored by this endpoint's configuration.
      expect(notifications.got.some((r) => r.body.includes('"action":"pull"'))).toBe(false);
    },
    TIMEOUT,
  );

  it(
    'keeps per-tag pushed and pulled times and counts pulls of a tag',
    async () => {
      await skopeoOk([
        'inspect',
        '--tls-verify=false',
        '--creds',
        `alice:${PASSWORD}`,
        `docker://${wharf.host}/alice/app:v2`,
      ]);
      const db = await openDataDirDb(wharf.dataDir);
      try {
        const readRepo = () =>
          db
            .selectFrom('repositories')
            .select(['id', 'pull_count', 'last_pushed_at'])
            .where('name', '=', 'alice/app')
            .executeTakeFirstOrThrow();
        // Pull counts are written in batches about once a second (hub/pulls.ts).
        let repo = await readRepo();
        for (let i = 0; i < 50 && repo.pull_count === 0; i++) {
          await sleep(100);
          repo = await readRepo();
        }
        expect(repo.pull_count).toBe(1);
        expect(Date.now() - Date.parse(repo.last_pushed_at ?? '')).toBeLessThan(60_000);
        const tags = await db
          .selectFrom('tags')
          .select(['name', 'pushed_at', 'pulled_at'])
          .where('repository_id', '=', repo.id)
          .orderBy('name')
          .execute();
        expect(tags.map((t) => [t.name, t.pushed_at !== null, t.pulled_at !== null])).toEqual([
          ['v1', true, false],
          ['v2', true, true],
        ]);
      } finally {
        await db.destroy();
      }
    },
    TIMEOUT,
  );

  it(
    'retries a receiver that is down with growing delays and delivers across a server restart',
    async () => {
      const late = new Receiver(await freePort());
      const created = await api(wharf, 'POST', '/repositories/alice/app/webhooks', { url: late.url });
      expect(created.status).toBe(201);
      const hookId = (created.json as { id: number }).id;

      await push('v3');
      // Backoff 300 ms × 2^n: attempts at about 0, 0.3, 0.9, 2.1 s.
      let history: DeliveryView[] = [];
      for (const until = Date.now() + 20_000; Date.now() < until; await sleep(100)) {
        history = await deliveries(wharf, hookId);
        if ((history[0]?.attempts ?? 0) >= 3) break;
      }
      const pending = history[0];
      expect(pending?.status).toBe('pending');
      expect(pending?.attempt_log.length).toBeGreaterThanOrEqual(3);
      for (const a of pending?.attempt_log ?? []) {
        expect(a.status_code).toBeNull();
        expect(a.error).toMatch(/ECONNREFUSED/);
      }
      const times = (pending?.attempt_log ?? []).map((a) => Date.parse(a.attempted_at));
      const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
      expect(gaps[0]).toBeGreaterThanOrEqual(250);
      expect(gaps[1]).toBeGreaterThan((gaps[0] ?? 0) * 1.5);

      // The server dies while the delivery is pending; the receiver comes back; the server too.
      await wharf.kill();
      await late.start();
      await sleep(500);
      expect(late.got).toHaveLength(0);
      wharf = await startWharf({ dataDir: wharf.dataDir, port: wharf.port, env: env() });
      try {
        const got = await late.waitFor((r) => r.body.includes('"tag":"v3"'), 30_000);
        expect(got.headers['x-wharf-signature-256']).toBeUndefined();
        let done: DeliveryView | undefined;
        for (const until = Date.now() + 10_000; Date.now() < until; await sleep(100)) {
          done = (await deliveries(wharf, hookId))[0];
          if (done?.status === 'delivered') break;
        }
        expect(done?.status).toBe('delivered');
        expect(done?.attempt_log.length).toBe(done?.attempts ?? 0);
        expect(done?.attempt_log.at(-1)).toMatchObject({ status_code: 200, error: null });
        expect(done?.attempt_log.slice(0, -1).every((a) => a.status_code === null)).toBe(true);
        expect(late.got).toHaveLength(1);
      } finally {
        await late.stop();
      }
    },
    TIMEOUT,
  );

  it(
    'redelivers a delivery on request, as a new delivery',
    async () => {
      const list = await api(wharf, 'GET', '/repositories/alice/app/webhooks');
      const first = (list.json as { count: number; results: { id: number }[] }).results[0];
      expect(first).toBeDefined();
      const [last] = await deliveries(wharf, first?.id ?? 0);
      const before = hooks.got.length;
      const res = await api(
        wharf,
        'POST',
        `/repositories/alice/app/webhooks/${first?.id}/deliveries/${last?.id}/redeliver`,
      );
      expect(res.status).toBe(202);
      await hooks.waitFor((_r) => hooks.got.length > before);
      expect(hooks.got.at(-1)?.body).toBe(hooks.got.at(before - 1)?.body);
    },
    TIMEOUT,
  );

  it(
    'refuses invalid targets with a clear message',
    async () => {
      const file = await api(wharf, 'POST', '/repositories/alice/app/webhooks', { url: 'file:///etc/passwd' });
      expect(file.status).toBe(400);
      expect(JSON.stringify(file.json)).toContain('must be http:// or https://');
      const events = await api(wharf, 'POST', '/repositories/alice/app/webhooks', {
        url: hooks.url,
        events: ['build'],
      });
      expect(events.status).toBe(400);
      expect(JSON.stringify(events.json)).toContain('unknown webhook event');

      // Without webhooks.allow_private_targets, loopback and link-local targets are refused.
      const strict = await startWharf({ env: { ...env(), WHARF_WEBHOOKS_ALLOW_PRIVATE_TARGETS: 'false' } });
      try {
        await wharfAdmin(['user', 'add', 'alice', '--password-stdin', '--data', strict.dataDir], `${PASSWORD}\n`);
        await skopeoOk([
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          `alice:${PASSWORD}`,
          `oci:${layout}:v1`,
          `docker://${strict.host}/alice/app:v1`,
        ]);
        for (const url of [
          'http://127.0.0.1:9/x',
          'http://localhost/x',
          'http://169.254.169.254/latest',
          'http://[::1]/',
          // IPv4 inside IPv6: mapped, compatible, NAT64, 6to4; and the other reserved ranges.
          'http://[::ffff:127.0.0.1]/',
          'http://[::10.0.0.1]/',
          'http://[64:ff9b::169.254.169.254]/',
          'http://[2002:a9fe:a9fe::1]/',
          'http://[fec0::1]/',
          'http://[2001:db8::1]/',
          'http://198.18.0.1/',
          'http://192.0.0.8/',
        ]) {
          const res = await api(strict, 'POST', '/repositories/alice/app/webhooks', { url });
          expect(res.status, url).toBe(400);
          expect(JSON.stringify(res.json)).toContain('webhooks.allow_private_targets');
        }
      } finally {
        await strict.cleanup();
      }
    },
    TIMEOUT,
  );

  it(
    'hides webhooks from accounts that do not administer the repository',
    async () => {
      await wharfAdmin(['user', 'add', 'bob', '--password-stdin', '--data', wharf.dataDir], 'bob-Secret-1\n');
      const res = await fetch(`${wharf.url}/api/repositories/alice/app/webhooks`, {
        headers: { authorization: `Basic ${Buffer.from('bob:bob-Secret-1').toString('base64')}` },
      });
      expect(res.status).toBe(404);
      const anonymous = await fetch(`${wharf.url}/api/repositories/alice/app/webhooks`);
      expect(anonymous.status).toBe(401);
    },
    TIMEOUT,
  );
});
