// The per-container monitor (like podman's conmon): a detached `wharf container-monitor`
// process that runs the container through `runc run`, keeps its state in the database, writes
// its output to the log, serves attach clients on a unix socket, and applies the restart policy.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile, rm, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import type { LocalStore } from '../engine/store.js';
import { FrameType, frame, readFrames } from './attach.js';
import { prepareBundle } from './bundle.js';
import { type Container, getContainer, updateContainer } from './containers.js';
import { containerLayout } from './layout.js';
import { removeContainer } from './remove.js';
import { runcBinary, runcDelete } from './runc.js';

export interface MonitorOptions {
  /** Start the container only once a client has attached (run/start -a), so no output is lost. */
  waitAttach: boolean;
  /** Terminal size of the attaching client, for containers with a TTY. */
  rows?: number;
  cols?: number;
}

const ATTACH_WAIT_MS = 30_000;
/** Docker's restart backoff: 100 ms, doubling, at most a minute; reset after 10 s of running. */
const BACKOFF_START_MS = 100;
const BACKOFF_MAX_MS = 60_000;
const BACKOFF_RESET_MS = 10_000;

function quote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Decides whether the policy brings the container back after it exited with `exitCode`. */
export function shouldRestart(container: Container, exitCode: number): boolean {
  if (container.stoppedByUser) return false;
  const policy = container.hostConfig.RestartPolicy;
  switch (policy.Name) {
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return exitCode !== 0 && (policy.MaximumRetryCount === 0 || container.restartCount < policy.MaximumRetryCount);
    default:
      return false;
  }
}

class AttachServer {
  private readonly clients = new Set<Socket>();
  private readonly server: Server;
  private stdinTarget: ((data: Buffer | null) => void) | undefined;
  /** Input that arrived before the container's process was there to take it. */
  private stdinQueue: (Buffer | null)[] = [];
  readonly firstClient: Promise<void>;

  constructor(private readonly path: string) {
    let resolveFirst: () => void = () => {};
    this.firstClient = new Promise((resolve) => {
      resolveFirst = resolve;
    });
    this.server = createServer((socket) => {
      this.clients.add(socket);
      resolveFirst();
      socket.on('close', () => this.clients.delete(socket));
      socket.on('error', () => this.clients.delete(socket));
      readFrames(socket, (type, payload) => {
        if (type === FrameType.stdin) this.input(Buffer.from(payload));
        else if (type === FrameType.stdinEnd) this.input(null);
      });
    });
  }

  async listen(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await unlink(this.path).catch(() => {});
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.path, () => resolve());
    });
  }

  private input(data: Buffer | null): void {
    if (this.stdinTarget) this.stdinTarget(data);
    else this.stdinQueue.push(data);
  }

  /** Where stdin goes (null: end of input); input queued meanwhile is delivered first. */
  setStdin(target: ((data: Buffer | null) => void) | undefined): void {
    this.stdinTarget = target;
    if (!target) return;
    for (const data of this.stdinQueue.splice(0)) target(data);
  }

  send(type: FrameType, payload?: Buffer | string): void {
    const bytes = frame(type, payload);
    for (const c of this.clients) c.write(bytes);
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.end();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await unlink(this.path).catch(() => {});
  }
}

/** Appends output to the json-file log, one record per line as Docker's json-file driver does. */
class JsonLog {
  private readonly partial = { stdout: '', stderr: '' };
  private readonly out: WriteStream;

  constructor(file: string) {
    this.out = createWriteStream(file, { flags: 'a', mode: 0o640 });
  }

  write(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    const text = this.partial[stream] + chunk.toString('utf8');
    const lines = text.split('\n');
    this.partial[stream] = lines.pop() ?? '';
    for (const line of lines) this.record(stream, `${line}\n`);
  }

  flush(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream] !== '') this.record(stream, this.partial[stream]);
      this.partial[stream] = '';
    }
  }

  private record(stream: 'stdout' | 'stderr', log: string): void {
    this.out.write(`${JSON.stringify({ log, stream, time: new Date().toISOString() })}\n`);
  }

  close(): Promise<void> {
    this.flush();
    return new Promise((resolve) => this.out.end(() => resolve()));
  }
}

async function waitForPid(file: string, child: ChildProcess): Promise<number | undefined> {
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    const pid = Number.parseInt(text, 10);
    if (Number.isInteger(pid) && pid > 0) return pid;
    if (child.exitCode !== null || child.signalCode !== null) return undefined;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs the container once; resolves with its exit code. */
async function runOnce(
  store: LocalStore,
  container: Container,
  attach: AttachServer,
  log: JsonLog,
  options: MonitorOptions,
): Promise<number> {
  const { root, db } = store;
  const bundle = await prepareBundle(store, container);
  const stateRoot = containerLayout.runcRoot(root);
  await runcDelete(stateRoot, container.id);
  const pidFile = join(bundle, 'init.pid');
  await rm(pidFile, { force: true });
  const runcArgs = ['--root', stateRoot, 'run', '--bundle', bundle, '--pid-file', pidFile, container.id];
  const tty = container.config.Tty;
  const stdinOpen = container.config.OpenStdin;
  let child: ChildProcess;
  if (tty) {
    // `script` gives the container a pseudo-terminal (runc passes its stdio through); the
    // terminal size is set on it before runc starts.
    const size = options.rows && options.cols ? `stty rows ${options.rows} cols ${options.cols} 2>/dev/null; ` : '';
    const command = `${size}exec ${[runcBinary(), ...runcArgs].map(quote).join(' ')}`;
    child = spawn('script', ['-qefc', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  } else {
    child = spawn(runcBinary(), runcArgs, { stdio: [stdinOpen ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  }
  child.stdout?.on('data', (chunk: Buffer) => {
    log.write('stdout', chunk);
    attach.send(FrameType.stdout, chunk);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    log.write('stderr', chunk);
    attach.send(FrameType.stderr, chunk);
  });
  child.stdin?.on('error', () => {});
  if (child.stdin) {
    const stdin = child.stdin;
    if (tty && !stdinOpen) stdin.end();
    else attach.setStdin((data) => (data === null ? stdin.end() : stdin.write(data)));
  }
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    child.on('error', () => resolve(127));
  });
  const pid = await waitForPid(pidFile, child);
  if (pid !== undefined) {
    await updateContainer(db, container.id, {
      status: 'running',
      pid,
      startedAt: new Date().toISOString(),
      exitCode: null,
    });
    attach.send(FrameType.started);
  }
  const code = await exited;
  attach.setStdin(undefined);
  log.flush();
  await runcDelete(stateRoot, container.id);
  await updateContainer(db, container.id, {
    status: 'exited',
    pid: null,
    exitCode: code,
    finishedAt: new Date().toISOString(),
  });
  return code;
}

/** The monitor's main loop. */
export async function runMonitor(store: LocalStore, id: string, options: MonitorOptions): Promise<void> {
  const { root, db } = store;
  await updateContainer(db, id, { monitorPid: process.pid });
  const attach = new AttachServer(containerLayout.socket(root, id));
  await attach.listen();
  const log = new JsonLog(containerLayout.log(root, id));
  let autoRemove = false;
  try {
    if (options.waitAttach) {
      await Promise.race([attach.firstClient, new Promise((r) => setTimeout(r, ATTACH_WAIT_MS))]);
    }
    let backoff = BACKOFF_START_MS;
    for (;;) {
      const container = await getContainer(db, id);
      const started = Date.now();
      let code: number;
      try {
        code = await runOnce(store, container, attach, log, options);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        attach.send(FrameType.stderr, `${message}\n`);
        await updateContainer(db, id, { status: 'exited', exitCode: 127, finishedAt: new Date().toISOString() });
        code = 127;
        attach.send(FrameType.exit, String(code));
        break;
      }
      attach.send(FrameType.exit, String(code));
      const after = await getContainer(db, id);
      if (!shouldRestart(after, code)) {
        autoRemove = after.hostConfig.AutoRemove;
        break;
      }
      if (Date.now() - started >= BACKOFF_RESET_MS) backoff = BACKOFF_START_MS;
      await updateContainer(db, id, { status: 'restarting', restartCount: after.restartCount + 1 });
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      const again = await getContainer(db, id);
      if (again.stoppedByUser) {
        await updateContainer(db, id, { status: 'exited' });
        break;
      }
    }
  } finally {
    await log.close();
    await attach.close();
    if (autoRemove) await removeContainer(store, await getContainer(db, id), { volumes: true });
    else await updateContainer(db, id, { monitorPid: null }).catch(() => {});
  }
}
