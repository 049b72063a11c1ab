// PostgreSQL briefly unreachable (issue 12): requests that need the metadata answer 503
// UNAVAILABLE with a clear message, not a 500; once it is back, the same server answers again.
import { afterAll, beforeAll, expect } from 'vitest';
import type { WharfServer } from '../../src/server/app.js';
import { type PgCluster, startCluster, startPostgres, stopCluster } from '../support/postgres.js';
import { memoryServer } from '../support/server.js';
import { interopDescribe, interopIt } from '../support/tools.js';

interopDescribe('PostgreSQL unreachable', ['pg_ctlcluster'], () => {
  let cluster: PgCluster;
  let server: WharfServer;
  beforeAll(async () => {
    // A cluster of its own, since this test stops it.
    cluster = await startPostgres();
    server = await memoryServer({ WHARF_DATABASE_URL: cluster.url, WHARF_DATABASE_CONNECT_TIMEOUT: '2s' });
  });
  afterAll(async () => {
    await server?.close().catch(() => undefined);
    await cluster?.stop();
  });

  interopIt(
    'a request answers 503 UNAVAILABLE while it is down, and works again when it is back',
    ['pg_ctlcluster'],
    async () => {
      const catalog = () => server.app.inject({ url: '/v2/_catalog' });
      expect((await catalog()).statusCode).toBe(200);
      await stopCluster(cluster.dir);
      const down = await catalog();
      expect(down.statusCode).toBe(503);
      expect(down.json()).toEqual({
        errors: [{ code: 'UNAVAILABLE', message: 'the metadata database is unreachable; try again shortly' }],
      });
      await startCluster(cluster.dir, cluster.port);
      expect((await catalog()).statusCode).toBe(200);
    },
  );
});
