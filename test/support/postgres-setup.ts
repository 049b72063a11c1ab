// vitest globalSetup of the PostgreSQL run (vitest.postgres.config.ts): one cluster for the whole
// run, its admin URL handed to the test workers through the environment. A cluster already
// named by WHARF_TEST_PG_URL (started by hand: `node --import tsx test/support/postgres.ts start`)
// is used as it is and left running.
import { PG_URL_ENV, startPostgres } from './postgres.js';

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  process.env.WHARF_TEST_DATABASE = 'postgres';
  if (process.env[PG_URL_ENV]) return undefined;
  const cluster = await startPostgres();
  process.env[PG_URL_ENV] = cluster.url;
  return () => cluster.stop();
}
