// Garbage collection on the three-node cluster (issue 12): a bounded version of
// test/gc/gc-stress.test.ts on PostgreSQL + Swift. Node 0 runs the GC worker (every second, an
// 8 s review delay: longer than a push takes from its first blob to its manifest on this slow
// store, as gc.review_delay must be) while four clients push and delete images through nodes 1 and 2, so
// GC's re-checks and the pushes meet only in the shared database and bucket. Afterwards every
// tagged image verifies byte for byte through nginx, and a final GC + `wharf fsck` leaves no
// object without its row and no row without its object.
import { expect, it } from 'vitest';
import { newStats, runClient, verifyTaggedOverHttp } from '../gc/load.js';
import { CLUSTER_TOOLS, startCluster } from '../support/cluster.js';
import { interopDescribe, waitFor } from '../support/tools.js';

const LOAD_MS = 30_000;

interface FsckJson {
  clean: boolean;
  problems: { kind: string; digest: string; detail: string }[];
  blobsChecked: number;
  filesChecked: number;
}

interopDescribe('GC on a three-node cluster under load', CLUSTER_TOOLS, () => {
  it('GC on one node while 4 clients push and delete through the two others: tagged images verify, final GC + fsck clean', async () => {
    const cluster = await startCluster({
      env: { WHARF_AUTH_MODE: 'none', WHARF_GC_REVIEW_DELAY: '8s', WHARF_GC_INTERVAL: '1s' },
      nodeEnv: (i) => ({ WHARF_GC_ENABLED: i === 0 ? 'true' : 'false' }),
    });
    try {
      const stats = newStats();
      const until = Date.now() + LOAD_MS;
      await Promise.all(
        [0, 1, 2, 3].map((c) =>
          runClient(cluster.node(1 + (c % 2)).url, c, () => Date.now() > until, stats, { seed: 12, keep: 3 }),
        ),
      );
      expect(stats.errors, cluster.logs()).toEqual([]);
      expect(stats.pushes).toBeGreaterThan(10);
      expect(stats.deletes).toBeGreaterThan(3);

      // Node 0 did collect during the load; the others, without a worker, did not.
      const deleted = async (i: number) => {
        const metrics = await (await fetch(`${cluster.node(i).url}/metrics`)).text();
        return Number(/wharf_gc_deleted_total\{kind="manifest"\} (\d+)/.exec(metrics)?.[1] ?? 0);
      };
      expect(await deleted(0)).toBeGreaterThan(0);
      expect(await deleted(1)).toBe(0);

      // Every image still tagged verifies byte for byte, through the balancer (any node).
      expect(await verifyTaggedOverHttp(cluster.url)).toBeGreaterThan(0);

      // A final GC with no delay until nothing is left to collect, then fsck: clean.
      for (let i = 0; i < 6; i++) {
        const r = await cluster.wharf(['gc', '--json'], { env: { WHARF_GC_REVIEW_DELAY: '0s' } });
        expect(r.code, r.stderr).toBe(0);
        const report = JSON.parse(r.stdout) as { manifestsDeleted: number; blobsDeleted: number };
        if (report.manifestsDeleted === 0 && report.blobsDeleted === 0) break;
      }
      // Swift's listings are eventually consistent (a container update the object server deferred
      // is sent by the object updater within a second or so): fsck's walk of the bucket may miss
      // the newest objects for a moment, never an object's row or bytes.
      let report: FsckJson | undefined;
      await waitFor(
        'fsck to see every blob in the bucket listing',
        async () => {
          const fsck = await cluster.wharf(['fsck', '--json']);
          report = JSON.parse(fsck.stdout) as FsckJson;
          return report.blobsChecked === report.filesChecked;
        },
        { timeoutMs: 30_000, intervalMs: 1_000 },
      ).catch(() => undefined);
      expect(report?.problems).toEqual([]);
      expect(report?.filesChecked).toBe(report?.blobsChecked);
      expect(report?.blobsChecked).toBeGreaterThan(0);
      expect(await verifyTaggedOverHttp(cluster.url)).toBeGreaterThan(0);
    } finally {
      await cluster.stop();
    }
  }, 240_000);
});
