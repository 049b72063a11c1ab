// PostgreSQL briefly unreachable, on the hub's surfaces (issue 12): the /api answers 503 with its
// JSON error, the web UI a plain 503 page, /v1/search, /healthz and /metrics 503 too, instead of a 500 or
// a hang; a write tried meanwhile left nothing behind, and everything works again once it is back.
import pg from 'pg';
import { afterAll, beforeAll, expect } from 'vitest';
import type { WharfServer } from '../../src/server/app.js';
import { SESSION_COOKIE } from '../../src/server/ui/sessions.js';
import { type PgCluster, startCluster, startPostgres, stopCluster } from '../support/postgres.js';
import { hubServer } from '../support/server.js';
import { interopDescribe, interopIt } from '../support/tools.js';

const PASSWORDS = { admin: 'admin-Secret-0', alice: 'alice-Secret-1' };
const alice = `Basic ${Buffer.from(`alice:${PASSWORDS.alice}`).toString('base64')}`;
const MESSAGE = 'the metadata database is unreachable; try again shortly';

interopDescribe('PostgreSQL unreachable: hub API, web UI, search', ['pg_ctlcluster'], () => {
  let cluster: PgCluster;
  let server: WharfServer;
  beforeAll(async () => {
    // A cluster of its own, since this test stops it.
    cluster = await startPostgres();
    server = await hubServer(PASSWORDS, {
      env: { WHARF_DATABASE_URL: cluster.url, WHARF_DATABASE_CONNECT_TIMEOUT: '2s' },
    });
  });
  afterAll(async () => {
    await server?.close().catch(() => undefined);
    await cluster?.stop();
  });

  interopIt(
    'answers 503 everywhere while it is down, nothing half-written, and works again',
    ['pg_ctlcluster'],
    async () => {
      const app = server.app;
      const create = (name: string) =>
        app.inject({
          method: 'POST',
          url: '/api/repositories/alice',
          headers: { authorization: alice, 'content-type': 'application/json' },
          payload: JSON.stringify({ name, description: 'made during the test' }),
        });
      const getRepo = (name: string) => app.inject({ url: `/api/repositories/alice/${name}` });
      expect((await create('before')).statusCode).toBe(201);
      expect((await getRepo('before')).statusCode).toBe(200);
      expect((await app.inject({ url: '/' })).statusCode).toBe(200);

      // The test cluster runs with synchronous_commit off, which an immediate stop may cost the
      // last commits: flush them first, as a real server's synchronous commits would have.
      const admin = new pg.Client({ connectionString: cluster.url });
      await admin.connect();
      await admin.query('checkpoint');
      await admin.end();
      await stopCluster(cluster.dir);
      const started = Date.now();

      const write = await create('during');
      expect(write.statusCode).toBe(503);
      expect(write.headers['retry-after']).toBe('5');
      expect(write.json()).toEqual({ errors: [{ code: 'UNAVAILABLE', message: MESSAGE }] });
      const read = await getRepo('before');
      expect(read.statusCode).toBe(503);
      expect(read.json()).toEqual({ errors: [{ code: 'UNAVAILABLE', message: MESSAGE }] });

      // The UI: an anonymous page, and one whose session must be looked up first (the hook).
      for (const headers of [{}, { cookie: `${SESSION_COOKIE}=${'s'.repeat(43)}` }]) {
        const ui = await app.inject({ url: '/r/alice/before', headers });
        expect(ui.statusCode).toBe(503);
        expect(ui.headers['content-type']).toBe('text/html; charset=utf-8');
        expect(ui.body).toContain('Temporarily unavailable');
        expect(ui.body).toContain(MESSAGE);
      }
      const search = await app.inject({ url: '/v1/search?q=before' });
      expect(search.statusCode).toBe(503);
      expect(search.json()).toEqual({ error: MESSAGE });
      const health = await app.inject({ url: '/healthz' });
      expect(health.statusCode).toBe(503);
      expect(health.json()).toEqual({ status: 'unavailable', error: MESSAGE });
      const metrics = await app.inject({ url: '/metrics' });
      expect(metrics.statusCode).toBe(503);
      expect(metrics.json()).toEqual({ error: MESSAGE });
      // Refused at once, not after a hang.
      expect(Date.now() - started).toBeLessThan(10_000);

      await startCluster(cluster.dir, cluster.port);
      expect((await getRepo('before')).statusCode).toBe(200);
      expect((await getRepo('during')).statusCode).toBe(404);
      expect((await create('during')).statusCode).toBe(201);
      expect((await app.inject({ url: '/r/alice/during' })).statusCode).toBe(200);
      expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    },
  );
});
