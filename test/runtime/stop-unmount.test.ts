// What a stopped container leaves behind, and what `wharf run` reports when the container's
// monitor dies: Docker unmounts a container's root on stop (a host with thousands of exited
// containers does not hold thousands of mounts) and mounts it again on start; an attached run
// exits with the recorded state's exit code, never 0, when the monitor dies without reporting.
import { readdir, readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { useBusyboxStore } from '../support/containers.js';
import { interopDescribe, sleep } from '../support/tools.js';

const TIMEOUT = 60_000;

/** The mount points in this mount namespace that belong to the container `id`. */
async function mountsOf(id: string): Promise<string[]> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((point) => point.includes(id));
}

/** Pids of the processes whose command line holds every one of `parts`. */
async function pidsWith(...parts: string[]): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (parts.every((p) => cmdline.includes(p))) pids.push(Number(entry));
  }
  return pids;
}

interopDescribe('container roots on stop, and the exit status of a run whose monitor dies', ['runc', 'busybox'], () => {
  const store = useBusyboxStore('wharf-unmount', TIMEOUT);
  const { run: wharf, ok: wharfOk } = store.wharf;
  /** Waits until the container runs (`run -d` and `start` return once its monitor is up). */
  const running = async (name: string) => {
    for (let i = 0; i < 100; i++) {
      if ((await wharfOk(['ps', '-q', '--filter', `name=${name}`])).trim() !== '') return;
      await sleep(100);
    }
    throw new Error(`${name} does not run`);
  };
  const idOf = async (name: string) =>
    (JSON.parse(await wharfOk(['container', 'inspect', name])) as { Id: string }[])[0]?.Id ?? '';

  it(
    'stop unmounts the root, start mounts it again; a run that ends leaves no mount',
    async () => {
      const id = (await wharfOk(['run', '-d', '--name', 'mounted', 'busybox', 'sleep', '1000'])).trim();
      await running('mounted');
      expect(await mountsOf(id)).toHaveLength(1);
      await wharfOk(['stop', '-t', '1', 'mounted']);
      expect(await mountsOf(id)).toEqual([]);

      await wharfOk(['start', 'mounted']);
      await running('mounted');
      expect(await mountsOf(id)).toHaveLength(1);
      expect(await wharfOk(['exec', 'mounted', 'cat', '/etc/hostname'])).toBe(`${id.slice(0, 12)}\n`);
      // restart: the stopping monitor must not unmount the root its successor runs on.
      await wharfOk(['restart', '-t', '1', 'mounted']);
      await running('mounted');
      await sleep(1000);
      expect(await mountsOf(id)).toHaveLength(1);
      expect(await wharfOk(['exec', 'mounted', 'cat', '/etc/hostname'])).toBe(`${id.slice(0, 12)}\n`);
      await wharfOk(['kill', 'mounted']);
      await wharfOk(['wait', 'mounted']);
      for (let i = 0; i < 50 && (await mountsOf(id)).length > 0; i++) await sleep(100);
      expect(await mountsOf(id)).toEqual([]);

      const done = await wharf(['run', '--name', 'once', 'busybox', 'sh', '-c', 'exit 4']);
      expect(done.code).toBe(4);
      expect(await mountsOf(await idOf('once'))).toEqual([]);
    },
    TIMEOUT,
  );

  it(
    'an attached run whose monitor is killed exits with the recorded state (137), not 0',
    async () => {
      const attached = wharf(['run', '--name', 'orphan', 'busybox', 'sleep', '300']);
      let monitors: number[] = [];
      for (let i = 0; i < 100 && monitors.length === 0; i++) {
        await sleep(100);
        const ps = await wharf(['ps', '-q', '--filter', 'name=orphan']);
        if (ps.stdout.trim() !== '') monitors = await pidsWith('container-monitor', await idOf('orphan'));
      }
      expect(monitors).toHaveLength(1);
      expect(await mountsOf(await idOf('orphan'))).toHaveLength(1);
      process.kill(monitors[0] as number, 'SIGKILL');
      const result = await attached;
      expect(result.code).toBe(137);
      expect(await wharfOk(['ps', '-a', '--filter', 'name=orphan', '--format', '{{.Status}}'])).toMatch(
        /^Exited \(137\) /,
      );
      expect(await mountsOf(await idOf('orphan'))).toEqual([]);
    },
    TIMEOUT,
  );
});
