// `wharf system df [-v]` against the Docker engine for the same image, containers and volumes:
// busybox used by an exited container that wrote 12345 bytes (and 1000 into a named volume), a
// running one, a created one, and a volume no container uses any more (3000 bytes).
import { expect, it } from 'vitest';
import { useBusyboxStore, useDockerWithBusybox } from '../support/containers.js';
import { interopDescribe } from '../support/tools.js';

const TIMEOUT = 240_000;

/** The same steps on both sides (`--network none`: the test engine has no bridge). */
const STEPS: string[][] = [
  ['volume', 'create', 'data'],
  [
    'run',
    '--network',
    'none',
    '--name',
    'writer',
    '-v',
    'spare:/s',
    'busybox',
    'sh',
    '-c',
    'head -c 3000 /dev/zero > /s/f',
  ],
  ['rm', 'writer'],
  [
    'run',
    '--network',
    'none',
    '--name',
    'filler',
    '-v',
    'data:/d',
    'busybox',
    'sh',
    '-c',
    'head -c 12345 /dev/zero > /big; head -c 1000 /dev/zero > /d/f',
  ],
  ['run', '-d', '--network', 'none', '--name', 'sleeper', 'busybox', 'sleep', '1000'],
  ['create', '--network', 'none', '--name', 'idle', 'busybox', 'true'],
];

/** Container IDs and relative times differ between two runs; columns widen with them. */
const mask = (s: string) =>
  s
    .replace(/\b[0-9a-f]{12}\b/g, 'ID')
    .replace(/(\d+|About an?|Less than a) \w+( ago)?/g, 'AGO')
    .replace(/ {2,}/g, ' | ');

interopDescribe('system df: Wharf and the Docker engine agree', ['runc', 'busybox', 'dockerd', 'docker'], () => {
  const store = useBusyboxStore('wharf-df', TIMEOUT);
  const docker = useDockerWithBusybox(TIMEOUT);

  it(
    'counts images (active: used by a container), containers with their sizes, and volumes like Docker',
    async () => {
      if (!docker.requireRun('system df with containers')) return;
      for (const step of STEPS) {
        await docker.dockerOk(step);
        await store.wharf.ok(step);
      }
      const theirs = await docker.dockerOk(['system', 'df']);
      const ours = await store.wharf.ok(['system', 'df']);
      expect(theirs).toMatch(/^Containers +3 +1 +12\.35kB +12\.35kB \(100%\)$/m);
      expect(ours).toBe(theirs);

      const verbose = (s: string) => mask(s).split('\n');
      const [ourLines, theirLines] = [
        verbose(await store.wharf.ok(['system', 'df', '-v'])),
        verbose(await docker.dockerOk(['system', 'df', '-v'])),
      ];
      // Docker lists volumes in no fixed order.
      const volumes = (lines: string[]) => {
        const at = lines.indexOf('Local Volumes space usage:');
        return [...lines.slice(0, at + 3), ...lines.slice(at + 3, at + 5).sort(), ...lines.slice(at + 5)];
      };
      expect(volumes(ourLines)).toEqual(volumes(theirLines));
    },
    TIMEOUT,
  );

  it(
    '--format on volume ls, volume inspect and container inspect, as Docker prints it',
    async () => {
      if (!docker.requireRun('--format on the containers and volumes of system df')) return;
      const both = async (args: string[]) => {
        const [ours, theirs] = [await store.wharf.ok(args), await docker.dockerOk(args)];
        expect(ours).toBe(theirs);
        return ours;
      };
      expect(await both(['volume', 'ls'])).toMatch(/^DRIVER +VOLUME NAME\nlocal +data\nlocal +spare\n$/);
      await both(['volume', 'ls', '--format', '{{.Name}}|{{.Driver}}|{{.Scope}}|{{.Labels}}|{{.Size}}']);
      await both(['volume', 'ls', '--format', 'table {{.Name}}\t{{.Driver}}']);
      await both(['volume', 'inspect', '-f', '{{.Name}} {{.Driver}} {{.Scope}}', 'data', 'spare']);
      await both(['container', 'inspect', '-f', '{{.Name}} {{.State.Status}} {{.State.ExitCode}}', 'filler', 'idle']);
      await both(['inspect', '--format', '{{.Name}} {{.Config.Cmd}}', 'sleeper']);
      // json: one object a line with Docker's keys (the mount points differ: other roots).
      const keys = (out: string) =>
        out
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => Object.keys(JSON.parse(l)).sort());
      expect(keys(await store.wharf.ok(['volume', 'ls', '--format', 'json']))).toEqual(
        keys(await docker.dockerOk(['volume', 'ls', '--format', 'json'])),
      );
    },
    TIMEOUT,
  );
});
