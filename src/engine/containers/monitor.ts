// The per-container monitor (like podman's conmon): a detached `wharf container-monitor`
// process that runs the container through `runc run`, keeps its state in the database, writes
// its output to the log, serves attach clients on a unix socket, and applies the restart policy.
import { AttachServer, FrameType } from '../../runtime/attach.js';
import { JsonLog } from '../../runtime/json-log.js';
import { runcDelete } from '../../runtime/runc.js';
import { runBundle } from '../../runtime/supervisor.js';
import type { LocalStore } from '../store.js';
import { isCopiedRoot, prepareBundle, unmountRootfs } from './bundle.js';
import { containerLayout } from './layout.js';
import { type Container, getContainer, updateContainer } from './records.js';
import { removeContainer } from './remove.js';

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
  const running = await runBundle({
    stateRoot,
    bundle,
    id: container.id,
    tty: container.config.Tty,
    stdin: container.config.OpenStdin,
    ...(options.rows !== undefined ? { rows: options.rows } : {}),
    ...(options.cols !== undefined ? { cols: options.cols } : {}),
  });
  running.stdout.on('data', (chunk: Buffer) => {
    log.write('stdout', chunk);
    attach.send(FrameType.stdout, chunk);
  });
  running.stderr.on('data', (chunk: Buffer) => {
    log.write('stderr', chunk);
    attach.send(FrameType.stderr, chunk);
  });
  const stdin = running.stdin;
  if (stdin) attach.setStdin((data) => (data === null ? stdin.end() : stdin.write(data)));
  const pid = await running.started;
  if (pid !== undefined) {
    await updateContainer(db, container.id, {
      status: 'running',
      pid,
      startedAt: new Date().toISOString(),
      exitCode: null,
    });
    attach.send(FrameType.started);
  }
  const code = await running.exited;
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
      // (unref: a client that came must not keep the monitor alive for the rest of the wait)
      await Promise.race([attach.firstClient, new Promise((r) => setTimeout(r, ATTACH_WAIT_MS).unref())]);
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
    else {
      // Like Docker, a stopped container does not keep its root mounted (start mounts it again),
      // unless a new start (`restart`) has already replaced this monitor and uses the mount.
      const container = await getContainer(db, id).catch(() => undefined);
      if (container && container.monitorPid === process.pid && !isCopiedRoot(container))
        await unmountRootfs(root, id).catch(() => {});
      await updateContainer(db, id, { monitorPid: null }).catch(() => {});
    }
  }
}
