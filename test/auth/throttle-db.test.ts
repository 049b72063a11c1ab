// Login throttling in the metadata database (issue 12): the sliding window of LoginThrottle with
// the failures in a table, on the run's database (SQLite, or PostgreSQL on the PG run); then two
// real server processes on one PostgreSQL database: failures spread across both nodes block the
// account on both, as one node would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseLoginThrottle } from '../../src/auth/db-throttle.js';
import { type MetadataDb, openMetadata } from '../../src/metadata/db.js';
import { createDatabase, type PgCluster, startPostgres, testOnPostgres } from '../support/postgres.js';
import { startWharf, type WharfProcess } from '../support/server.js';
import { interopDescribe, interopIt } from '../support/tools.js';

const ALICE = 'account:alice';
const ADDR = 'addr:127.0.0.1';

describe('DatabaseLoginThrottle', () => {
  let db: MetadataDb;
  const clock = { t: 1_000_000 };
  beforeAll(async () => {
    db = await openMetadata({
      url: testOnPostgres() ? await createDatabase() : '',
      pool: { max: 2, idleTimeoutMs: 1_000, connectTimeoutMs: 5_000 },
      sqliteFile: ':memory:',
    });
  });
  afterAll(() => db?.destroy());
  const throttle = (max: number, windowMs = 60_000) =>
    new DatabaseLoginThrottle(db, { maxFailures: max, windowMs, now: () => clock.t });

  it('blocks after maxFailures in the window, sliding: one more try when the oldest leaves it', async () => {
    const t = throttle(3);
    await t.failure([ALICE]); // t0
    clock.t += 10_000;
    await t.failure([ALICE, ALICE]); // counted once
    expect(await t.retryAfter([ALICE])).toBeUndefined();
    await t.failure([ALICE]); // t0 + 10 s
    expect(await t.retryAfter([ALICE])).toBe(50);
    clock.t += 49_999;
    expect(await t.retryAfter([ALICE])).toBe(1);
    clock.t += 1;
    expect(await t.retryAfter([ALICE])).toBeUndefined();
    await t.failure([ALICE]);
    expect(await t.retryAfter([ALICE])).toBe(10);
    await t.success([ALICE]);
    expect(await t.retryAfter([ALICE])).toBeUndefined();
  });

  it('a success clears account keys only; the longest wait wins; expired rows are pruned', async () => {
    clock.t += 1_000_000;
    const t = throttle(2, 30_000);
    await t.failure(['account:u1', ADDR]);
    clock.t += 10_000;
    await t.failure(['account:u2', ADDR]);
    await t.failure(['account:u2', 'addr:10.0.0.2']);
    await t.success(['account:u2', ADDR]);
    expect(await t.retryAfter(['account:mallory', ADDR])).toBe(20);
    expect(await t.retryAfter(['account:u2'])).toBeUndefined();
    await t.failure(['account:carol']);
    await t.failure(['account:carol']);
    expect(await t.retryAfter([ADDR, 'account:carol'])).toBe(30);
    clock.t += 30_000;
    await t.failure(['account:dave']);
    const rows = await db.selectFrom('login_failures').select(['key']).execute();
    expect(rows.map((r) => r.key)).toEqual(['account:dave']);
  });
});

interopDescribe('login throttle shared by two nodes on PostgreSQL', ['pg_ctlcluster'], () => {
  let cluster: PgCluster | undefined;
  let nodes: WharfProcess[] = [];
  beforeAll(async () => {
    // The run's cluster on the PG run, else one of its own.
    if (!testOnPostgres()) cluster = await startPostgres();
    const url = await createDatabase(cluster?.url);
    const env = {
      WHARF_AUTH_MODE: 'token',
      WHARF_DATABASE_URL: url,
      WHARF_ADMIN_PASSWORD: 'admin-Secret-0',
      WHARF_AUTH_MAX_LOGIN_FAILURES: '4',
    };
    // One after the other: the first migrates the database.
    nodes.push(await startWharf({ env }));
    nodes.push(await startWharf({ env }));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.cleanup()));
    nodes = [];
    await cluster?.stop();
  });

  interopIt('failures spread across both nodes block the account on both', ['pg_ctlcluster'], async () => {
    const login = (node: WharfProcess, password: string) =>
      fetch(`${node.url}/token?service=wharf`, {
        headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` },
      });
    const [a, b] = nodes as [WharfProcess, WharfProcess];
    expect((await login(a, 'admin-Secret-0')).status).toBe(200);
    // Two wrong passwords on each node: neither saw four, together they did.
    for (const node of [a, b, a, b]) expect((await login(node, 'wrong')).status).toBe(401);
    for (const node of [a, b]) {
      const res = await login(node, 'admin-Secret-0');
      expect(res.status).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(200);
      expect(await res.text()).toContain('too many failed login attempts');
    }
  });
});
