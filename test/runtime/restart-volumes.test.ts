// Restart policies applied by the monitor and by `container restore` (after the monitor was
// killed, as after a reboot), and volumes: named ones outlive containers, rm -v takes anonymous ones.
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { useBusyboxStore } from '../support/containers.js';
import { interopDescribe, sleep } from '../support/tools.js';

const TIMEOUT = 90_000;

interface State {
  Status: string;
  ExitCode: number;
  Pid: number;
}

interopDescribe('restart policies and volumes', ['runc', 'busybox'], () => {
  const store = useBusyboxStore('wharf-restart', TIMEOUT);
  const { run: wharf, ok: wharfOk } = store.wharf;
  const inspect = async (name: string) =>
    (JSON.parse(await wharfOk(['container', 'inspect', name])) as { State: State; RestartCount: number }[])[0] as {
      State: State;
      RestartCount: number;
    };
  /** Polls until `check` holds (the monitor works in the background). */
  const eventually = async (name: string, check: (c: { State: State; RestartCount: number }) => boolean) => {
    for (let i = 0; i < 200; i++) {
      const c = await inspect(name);
      if (check(c)) return c;
      await sleep(100);
    }
    throw new Error(`${name} never reached the expected state: ${JSON.stringify(await inspect(name))}`);
  };
  const monitorPid = async (name: string): Promise<number> => {
    const ps = await wharfOk(['ps', '-a', '--filter', `name=${name}`, '-q']);
    const id = ps.trim();
    const out = execFileSync('pgrep', ['-f', `container-monitor --root ${store.root} ${id}`])
      .toString()
      .trim();
    return Number(out.split('\n')[0]);
  };

  it(
    'on-failure:3 restarts a failing container 3 times, then it stays exited',
    async () => {
      await wharfOk([
        'run',
        '-d',
        '--name',
        'flaky',
        '--restart',
        'on-failure:3',
        'busybox',
        'sh',
        '-c',
        'echo try; exit 1',
      ]);
      const done = await eventually('flaky', (c) => c.State.Status === 'exited' && c.RestartCount === 3);
      expect(done.State.ExitCode).toBe(1);
      await sleep(1500);
      expect((await inspect('flaky')).RestartCount).toBe(3);
      expect(await wharfOk(['logs', 'flaky'])).toBe('try\ntry\ntry\ntry\n');
    },
    TIMEOUT,
  );

  it(
    'always restarts a container that exits, even with status 0',
    async () => {
      await wharfOk(['run', '-d', '--name', 'again', '--restart', 'always', 'busybox', 'sh', '-c', 'sleep 0.3']);
      await eventually('again', (c) => c.RestartCount >= 2);
      await wharfOk(['stop', '-t', '1', 'again']);
      const stopped = await inspect('again');
      expect(stopped.State.Status).toBe('exited');
      await sleep(1000);
      expect((await inspect('again')).State.Status).toBe('exited');
    },
    TIMEOUT,
  );

  it(
    'unless-stopped stays stopped after stop, also through restore; always comes back on restore',
    async () => {
      await wharfOk(['run', '-d', '--name', 'stays', '--restart', 'unless-stopped', 'busybox', 'sleep', '300']);
      await eventually('stays', (c) => c.State.Status === 'running');
      await wharfOk(['stop', '-t', '1', 'stays']);
      expect((await inspect('stays')).State.Status).toBe('exited');
      const restored = await wharfOk(['container', 'restore']);
      expect(restored.split('\n')).not.toContain('stays');
      expect(restored.split('\n')).toContain('again'); // always: back even after a stop, as after a daemon restart
      expect((await inspect('stays')).State.Status).toBe('exited');
      await eventually('again', (c) => c.State.Status === 'running' || c.State.Status === 'restarting');
      await wharfOk(['stop', '-t', '1', 'again']);
    },
    TIMEOUT,
  );

  it(
    'after the monitor is killed, restore honours the policies',
    async () => {
      await wharfOk(['run', '-d', '--name', 'survivor', '--restart', 'unless-stopped', 'busybox', 'sleep', '300']);
      await wharfOk(['run', '-d', '--name', 'plain', 'busybox', 'sleep', '300']);
      const first = await eventually('survivor', (c) => c.State.Status === 'running');
      await eventually('plain', (c) => c.State.Status === 'running');
      process.kill(await monitorPid('survivor'), 'SIGKILL');
      process.kill(await monitorPid('plain'), 'SIGKILL');
      // Without a monitor the containers count as stopped (killed, as after a reboot)…
      await eventually('survivor', (c) => c.State.Status === 'exited');
      expect((await inspect('plain')).State.Status).toBe('exited');
      // …and restore brings back the one whose policy says so, as a new process.
      const restored = await wharfOk(['container', 'restore']);
      expect(restored.split('\n')).toContain('survivor');
      expect(restored.split('\n')).not.toContain('plain');
      const back = await eventually('survivor', (c) => c.State.Status === 'running');
      expect(back.State.Pid).not.toBe(first.State.Pid);
      expect((await inspect('plain')).State.Status).toBe('exited');
    },
    TIMEOUT,
  );

  it(
    'a named volume keeps its data after rm and shows it to a new container; rm -v removes anonymous volumes only',
    async () => {
      await wharfOk([
        'run',
        '--name',
        'writer',
        '-v',
        'keep:/data',
        '-v',
        '/scratch',
        'busybox',
        'sh',
        '-c',
        'echo kept > /data/f',
      ]);
      const volumes = (await wharfOk(['volume', 'ls', '-q'])).split('\n').filter((l) => l !== '');
      expect(volumes).toContain('keep');
      const anonymous = volumes.filter((v) => /^[0-9a-f]{64}$/.test(v));
      expect(anonymous).toHaveLength(1);
      const inUse = await wharf(['volume', 'rm', 'keep']);
      expect(inUse.stderr).toMatch(/^Error response from daemon: remove keep: volume is in use - \[[0-9a-f]{64}\]\n$/);
      await wharfOk(['rm', '-v', 'writer']);
      const after = (await wharfOk(['volume', 'ls', '-q'])).split('\n').filter((l) => l !== '');
      expect(after).toContain('keep');
      expect(after).not.toContain(anonymous[0]);
      const r = await wharf(['run', '--rm', '-v', 'keep:/data', 'busybox', 'cat', '/data/f']);
      expect(r.stdout).toBe('kept\n');
      expect(await wharfOk(['volume', 'rm', 'keep'])).toBe('keep\n');
    },
    TIMEOUT,
  );
});
