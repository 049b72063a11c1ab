// Manifest GET of a one-component name (`app`, read as `library/app` when that is official and
// `app` does not exist) against a two-component one (`ns/app`), on SQLite and on PostgreSQL, in
// one run: rounds of wrk -c32 on each in turn. Both nodes in auth mode none: this measures the
// name's resolution, not tokens.
//   npm run build && npx tsx bench/top-level-names.ts [--duration s] [--rounds N]
import { parseArgs } from 'node:util';
import { createDatabase, startPostgres } from '../test/support/postgres.js';
import { startWharf, type WharfProcess } from '../test/support/server.js';
import { RegistryClient } from './client.js';
import { MANIFEST_TYPE, tinyImage } from './data.js';
import { pushImage } from './workloads.js';
import { wrk } from './wrk.js';

const { values } = parseArgs({
  options: { duration: { type: 'string', default: '3' }, rounds: { type: 'string', default: '3' } },
});
const pg = await startPostgres();
const nodes = new Map<string, WharfProcess>();
try {
  for (const name of ['sqlite', 'postgres']) {
    const env: NodeJS.ProcessEnv = { WHARF_LOG_LEVEL: 'error', WHARF_AUTH_MODE: 'none' };
    if (name === 'postgres') env.WHARF_DATABASE_URL = await createDatabase(pg.url);
    const node = await startWharf({ env });
    nodes.set(name, node);
    const c = new RegistryClient(node.url, 8);
    await pushImage(c, 'app', 'latest', tinyImage(0));
    await pushImage(c, 'ns/app', 'latest', tinyImage(0));
    await c.pool.destroy();
  }
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const repo of ['app', 'ns/app']) {
      for (const [name, node] of nodes) {
        const r = await wrk(
          `${node.url}/v2/${repo}/manifests/latest`,
          { accept: MANIFEST_TYPE },
          Number(values.duration),
          32,
        );
        process.stdout.write(
          `round ${round}  ${repo.padEnd(7)} ${name.padEnd(9)} ${r.perSec.toFixed(0).padStart(6)} req/s\n`,
        );
      }
    }
  }
} finally {
  for (const node of nodes.values()) await node.cleanup();
  await pg.stop();
}
