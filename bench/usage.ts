// Disk usage and quota checks on a large metadata store (issue 11): how long the SQL aggregates
// take that the API, `wharf usage`, /metrics and every quota-checked push run. Seeds rows directly
// (no blob files: these read metadata only). Run: npx tsx bench/usage.ts [repositories]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStorageQuota } from '../src/hub/quotas.js';
import { usageReport } from '../src/hub/usage.js';
import { openSqlite } from '../src/metadata/db.js';
import { allNamespaceUsage, scopeTotal, scopeUsage, storeTotals } from '../src/metadata/usage.js';

const REPOS = Number(process.argv[2] ?? 10_000);
const NAMESPACES = 100;
const LAYERS = 5;

async function time<T>(label: string, fn: () => Promise<T>, runs = 5): Promise<T> {
  let result: T | undefined;
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    result = await fn();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  console.log(`${label.padEnd(58)} median ${ms[Math.floor(ms.length / 2)]?.toFixed(1)} ms`);
  return result as T;
}

const dir = mkdtempSync(join(tmpdir(), 'wharf-bench-usage-'));
try {
  const db = await openSqlite(join(dir, 'wharf.db'));
  const at = new Date().toISOString();
  const plan = await db.selectFrom('plans').select('id').where('name', '=', 'free').executeTakeFirstOrThrow();
  await db
    .updateTable('plans')
    .set({ quota_bytes: 1024 ** 4 })
    .where('id', '=', plan.id)
    .execute();
  const hex = (n: number) => n.toString(16).padStart(64, '0');
  await db.transaction().execute(async (tx) => {
    for (let n = 0; n < NAMESPACES; n++) {
      await tx
        .insertInto('namespaces')
        .values({
          name: `ns${n}`,
          kind: 'org',
          account_id: null,
          plan_id: plan.id,
          default_visibility: 'public',
          full_name: '',
          created_at: at,
        })
        .execute();
    }
    // One base layer everyone shares; each repository has LAYERS - 1 of its own.
    await tx
      .insertInto('blobs')
      .values({ digest: `sha256:${hex(0)}`, size: 3_000_000, created_at: at })
      .execute();
    let blob = 1;
    for (let r = 0; r < REPOS; r++) {
      const name = `ns${r % NAMESPACES}/repo${r}`;
      const { id } = await tx
        .insertInto('repositories')
        .values({ name, created_at: at, namespace_id: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      const digests = [`sha256:${hex(0)}`];
      for (let l = 1; l < LAYERS; l++) {
        const d = `sha256:${hex(blob++)}`;
        await tx
          .insertInto('blobs')
          .values({ digest: d, size: 100_000 + l, created_at: at })
          .execute();
        digests.push(d);
      }
      await tx
        .insertInto('repository_blobs')
        .values(digests.map((digest) => ({ repository_id: id, digest, created_at: at })))
        .execute();
      await tx
        .insertInto('manifests')
        .values({
          repository_id: id,
          digest: `sha256:${hex(10_000_000 + r)}`,
          media_type: 'x',
          size: 900,
          content: new Uint8Array(0),
          artifact_type: null,
          subject_digest: null,
          annotations: null,
          created_at: at,
        })
        .execute();
    }
  });
  console.log(`store: ${REPOS} repositories in ${NAMESPACES} namespaces, ${REPOS * (LAYERS - 1) + 1} blobs`);
  const quota = createStorageQuota();
  await time('storeTotals (admin total)', () => storeTotals(db));
  await time(`scopeUsage of one namespace (${REPOS / NAMESPACES} repositories)`, () =>
    scopeUsage(db, { namespace: 'ns7' }),
  );
  await time('scopeTotal of one namespace (the quota check)', () => scopeTotal(db, { namespace: 'ns7' }));
  await time('quota refusal() for a new blob', () =>
    quota.refusal(db, 'ns7/repo7', { kind: 'blob', digest: `sha256:${hex(99_999_999)}`, size: 1 }),
  );
  await time('scopeUsage of one repository', () => scopeUsage(db, { repositoryId: 8 }));
  await time('allNamespaceUsage (three grouped queries)', () => allNamespaceUsage(db), 3);
  const report = await time(`usageReport (every namespace: wharf usage, /metrics)`, () => usageReport(db), 3);
  // The one-query report must agree with the per-namespace computation.
  const one = await scopeUsage(db, { namespace: 'ns7' });
  const fromReport = report.namespaces.find((n) => n.namespace === 'ns7');
  if (fromReport?.uniqueBytes !== one.uniqueBytes || fromReport.sharedBytes !== one.sharedBytes)
    throw new Error(`report and scopeUsage disagree: ${JSON.stringify([fromReport, one])}`);
  await db.destroy();
} finally {
  if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
  else console.log(dir);
}
