// `runc run` of a bundle in the foreground, as a child of the monitor: the container's stdio are
// the child's pipes; with a TTY the child is `script`, whose pseudo-terminal runc relays the
// container's console to.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { runcBinary, runcDelete } from './runc.js';

export interface BundleRun {
  stateRoot: string;
  bundle: string;
  id: string;
  tty: boolean;
  /** Keep the container's stdin open (-i); otherwise it reads /dev/null (or an idle terminal). */
  stdin: boolean;
  /** Terminal size (TTY only). */
  rows?: number;
  cols?: number;
}

export interface RunningBundle {
  /** The container's init pid once runc started it; undefined when it never started. */
  started: Promise<number | undefined>;
  /** The exit code (128 + signal when killed). */
  exited: Promise<number>;
  stdin: Writable | undefined;
  stdout: Readable;
  stderr: Readable;
}

function quote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

async function waitForPid(file: string, child: ChildProcess): Promise<number | undefined> {
  for (;;) {
    const pid = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(pid) && pid > 0) return pid;
    if (child.exitCode !== null || child.signalCode !== null) return undefined;
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function runBundle(run: BundleRun): Promise<RunningBundle> {
  await runcDelete(run.stateRoot, run.id); // a stale state of an earlier run would block the name
  const pidFile = join(run.bundle, 'init.pid');
  await rm(pidFile, { force: true });
  const runcArgs = ['--root', run.stateRoot, 'run', '--bundle', run.bundle, '--pid-file', pidFile, run.id];
  let child: ChildProcess;
  if (run.tty) {
    const size = run.rows && run.cols ? `stty rows ${run.rows} cols ${run.cols} 2>/dev/null; ` : '';
    const command = `${size}exec ${[runcBinary(), ...runcArgs].map(quote).join(' ')}`;
    child = spawn('script', ['-qefc', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    if (!run.stdin) child.stdin?.end();
  } else {
    child = spawn(runcBinary(), runcArgs, { stdio: [run.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  }
  child.stdin?.on('error', () => {});
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    child.on('error', () => resolve(127));
  });
  return {
    started: waitForPid(pidFile, child),
    exited,
    stdin: run.stdin && child.stdin ? child.stdin : undefined,
    stdout: child.stdout as Readable,
    stderr: child.stderr as Readable,
  };
}
