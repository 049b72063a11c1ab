// Containers run through the real runc: attached and detached runs, exit codes, logs, stop,
// --rm, a real pseudo-terminal for -it, exec, names and errors in Docker's wording.
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { useBusyboxStore } from '../support/containers.js';
import { WHARF_BIN } from '../support/server.js';
import { interopDescribe, type RunResult, run, waitFor } from '../support/tools.js';

const TIMEOUT = 60_000;

/**
 * Runs `command` in a pseudo-terminal (`script` is the driver) and types `keys` once `prompt`
 * has appeared, as a person would; resolves with everything shown and the exit code.
 */
function typeAtPrompt(command: string, prompt: string, keys: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qefc', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let typed = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!typed && stdout.includes(prompt)) {
        typed = true;
        child.stdin.write(keys);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code: code ?? -1, stdout, stderr: '' });
    });
  });
}

interopDescribe('containers through runc', ['runc', 'busybox', 'script'], () => {
  const store = useBusyboxStore('wharf-runtime', TIMEOUT);
  const { run: wharf, ok: wharfOk } = store.wharf;

  it('runs attached: output on stdout and stderr, the exit code passed on', async () => {
    const r = await wharf(['run', '--name', 'attached', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    const ps = await wharfOk(['ps', '-a', '--filter', 'name=attached']);
    expect(ps.split('\n')[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    expect(ps.split('\n')[1]).toMatch(
      /^[0-9a-f]{12}\s+busybox\s+"sh -c 'echo out; ec…"\s+.+ ago\s+Exited \(3\) .+ ago\s+attached$/,
    );
    expect(await wharfOk(['logs', 'attached'])).toBe('out\n');
  });

  it('passes stdin with -i', async () => {
    const r = await wharf(['run', '-i', '--rm', 'busybox', 'sh', '-c', 'read line; echo got:$line'], {
      input: 'hello\n',
    });
    expect(r.stdout).toBe('got:hello\n');
    expect(r.code).toBe(0);
  });

  it('-d prints the ID; logs -f follows until stop; stop ends it with 137 when SIGTERM is ignored', async () => {
    const id = (
      await wharfOk([
        'run',
        '-d',
        '--name',
        'ticker',
        'busybox',
        'sh',
        '-c',
        'echo started; while true; do sleep 0.1; done',
      ])
    ).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect((await wharfOk(['ps', '-q'])).split('\n')).toContain(id.slice(0, 12));
    let shown = '';
    const follow = wharf(['logs', '-f', 'ticker'], { onStdout: (text) => (shown += text) });
    // Following: it has printed what the log holds and waits for more.
    await waitFor('logs -f to print the first line', () => shown.includes('started\n'));
    expect(await wharfOk(['stop', '-t', '1', 'ticker'])).toBe('ticker\n');
    const followed = await follow;
    expect(followed.stdout).toBe('started\n');
    expect(followed.code).toBe(0);
    const inspect = JSON.parse(await wharfOk(['container', 'inspect', 'ticker'])) as {
      State: { Status: string; ExitCode: number };
    }[];
    expect(inspect[0]?.State).toMatchObject({ Status: 'exited', ExitCode: 137 });
    expect(await wharfOk(['wait', 'ticker'])).toBe('137\n');
    expect((await wharfOk(['ps', '-q'])).split('\n')).not.toContain(id.slice(0, 12));
  });

  it('--rm removes the container and its anonymous volumes after it exits', async () => {
    const before = await readdir(join(store.root, 'containers')).catch(() => []);
    const r = await wharf(['run', '--rm', '-v', '/scratch', 'busybox', 'sh', '-c', 'echo bye > /scratch/f; exit 7']);
    expect(r.code).toBe(7);
    const after = await readdir(join(store.root, 'containers')).catch(() => []);
    expect(after.sort()).toEqual(before.sort());
    expect(await wharfOk(['volume', 'ls', '-q'])).toBe('');
  });

  it('-it gives the container a real terminal, sized like the client', async () => {
    // `script` is the pseudo-terminal driver: wharf runs inside a pty 33x101; keys are typed into it.
    const command = `stty rows 33 cols 101; exec ${process.execPath} ${WHARF_BIN} run -it --root ${store.root} --rm busybox sh`;
    const r = await typeAtPrompt(command, '/ # ', 'tty; stty size; exit 5\r');
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+\r?\r\n/);
    expect(r.stdout).toContain('33 101');
    expect(r.code).toBe(5);
  });

  it('exec runs a process in a running container, with its exit code', async () => {
    await wharfOk(['run', '-d', '--name', 'execd', 'busybox', 'sleep', '60']);
    const r = await wharf(['exec', 'execd', 'sh', '-c', 'echo $HOSTNAME; exit 4']);
    expect(r.code).toBe(4);
    const inspect = JSON.parse(await wharfOk(['container', 'inspect', 'execd'])) as { Id: string }[];
    expect(r.stdout).toBe(`${inspect[0]?.Id.slice(0, 12)}\n`);
    await wharfOk(['rm', '-f', 'execd']);
    const gone = await wharf(['exec', 'execd', 'true']);
    expect(gone.stderr).toBe('Error response from daemon: No such container: execd\n');
  });

  it('refuses a name in use and an unknown container, with Docker wording', async () => {
    const id = (await wharfOk(['create', '--name', 'taken', 'busybox', 'true'])).trim();
    const again = await wharf(['create', '--name', 'taken', 'busybox', 'true']);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      `Error response from daemon: Conflict. The container name "/taken" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.\n`,
    );
    const missing = await wharf(['start', 'nope']);
    expect(missing.stderr).toBe('Error response from daemon: No such container: nope\n');
    expect(missing.code).toBe(1);
    expect(await wharfOk(['rm', 'taken'])).toBe('taken\n');
  });

  it('rm of a running container needs -f', async () => {
    await wharfOk(['run', '-d', '--name', 'busy', 'busybox', 'sleep', '60']);
    const r = await wharf(['rm', 'busy']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'Error response from daemon: cannot remove container "/busy": container is running: stop the container before removing or force remove\n',
    );
    expect(await wharfOk(['rm', '-f', 'busy'])).toBe('busy\n');
  });

  it('says clearly when runc is missing or wharf is not root, before touching anything', async () => {
    const noRunc = await wharf(['run', 'busybox', 'true'], {
      env: { ...process.env, WHARF_RUNC: '/nonexistent/runc' },
    });
    expect(noRunc.code).toBe(1);
    expect(noRunc.stderr).toContain('containers need the OCI runtime runc (apt-get install runc)');
    const asNobody = await run('setpriv', [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      WHARF_BIN,
      'run',
      '--root',
      store.root,
      'busybox',
      'true',
    ]);
    expect(asNobody.code).toBe(1);
    expect(asNobody.stderr).toContain('containers need root: rootless containers are not supported yet');
  });
});
