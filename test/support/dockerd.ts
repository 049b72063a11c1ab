// A private Docker engine for interop tests (DESIGN.md "Testing"): Debian's
// dockerd run as root without systemd, with its own data root, exec root,
// socket and config, so it never touches (or depends on) a system Docker.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { busyboxRootfsTar } from './rootfs.js';
import {
  pathWithSbin,
  type RunOptions,
  type RunResult,
  removeTmpDir,
  run,
  runOk,
  sleep,
  tmpDir,
  whichTool,
} from './tools.js';

export interface Dockerd {
  /** DOCKER_HOST value, `unix:///…/docker.sock`. */
  host: string;
  /** process.env + DOCKER_HOST + a private DOCKER_CONFIG. Pass to other tools. */
  env: NodeJS.ProcessEnv;
  /** Storage driver the engine runs with (overlay2, or vfs as a fallback). */
  storageDriver: string;
  /** Directory holding everything of this engine (removed by stop()). */
  dir: string;
  logFile: string;
  /** Run the `docker` client (first on PATH) against this engine. */
  docker(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** Like docker(), but throws on failure; returns raw stdout (trailing newline included). */
  dockerOk(args: string[], opts?: RunOptions): Promise<string>;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

/** Last lines of the dockerd log, without the chatty gRPC and containerd plugin lines. */
async function logTail(logFile: string, lines = 30): Promise<string> {
  try {
    const text = await readFile(logFile, 'utf8');
    const useful = text
      .split('\n')
      .filter((l) => l !== '' && !l.includes('module=grpc') && !l.includes('loading plugin'));
    return useful.slice(-lines).join('\n');
  } catch {
    return '(no dockerd log)';
  }
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Unmount everything mounted at or below `dir`, deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  let mounts: string;
  try {
    mounts = await readFile('/proc/self/mounts', 'utf8');
  } catch {
    return;
  }
  const points = mounts
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((p): p is string => p !== undefined)
    // /proc/mounts escapes space, tab, newline and backslash as octal.
    .map((p) => p.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(Number.parseInt(oct, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    const r = await run('umount', [p]);
    if (r.code !== 0) await run('umount', ['-l', p]);
  }
}

class StartFailure extends Error {
  constructor(
    message: string,
    /** dockerd exited on its own (e.g. unsupported storage driver): try the next driver. */
    readonly exited: boolean,
  ) {
    super(message);
  }
}

/** How to run the engine: by default on the host's network with networking off. */
export interface DockerdOptions {
  /**
   * Command prefix that runs dockerd inside a network namespace of the test's own
   * (e.g. `nsenter --net=/run/netns/NAME`): then bridge networking, iptables and the userland proxy are on (`-p`
   * works), all inside that namespace, never touching the host's network settings.
   */
  netnsWrap?: string[];
  /** Goes into the engine's daemon.json (e.g. registry-mirrors). */
  daemonConfig?: Record<string, unknown>;
}

async function startWithDriver(
  dockerdPath: string,
  storageDriver: string,
  options: DockerdOptions = {},
): Promise<Dockerd> {
  const dir = await tmpDir('wharf-dockerd');
  const dataRoot = join(dir, 'data');
  const execRoot = join(dir, 'exec');
  const configDir = join(dir, 'client-config');
  const socket = join(dir, 'docker.sock');
  const logFile = join(dir, 'dockerd.log');
  const daemonJson = join(dir, 'daemon.json');
  await Promise.all([mkdir(dataRoot), mkdir(execRoot), mkdir(configDir)]);
  // An empty daemon config: /etc/docker/daemon.json (e.g. with "hosts" or
  // "data-root") would otherwise clash with our flags.
  await writeFile(daemonJson, `${JSON.stringify(options.daemonConfig ?? {})}\n`);
  await writeFile(join(configDir, 'config.json'), '{}\n');

  const host = `unix://${socket}`;
  // A unique containerd namespace keeps several engines apart even if they end
  // up sharing a system containerd (dockerd uses /run/containerd if it runs).
  const ns = `wharf-${randomBytes(4).toString('hex')}`;
  const args = [
    `--config-file=${daemonJson}`,
    `--data-root=${dataRoot}`,
    `--exec-root=${execRoot}`,
    `--pidfile=${join(dir, 'dockerd.pid')}`,
    `--host=${host}`,
    `--storage-driver=${storageDriver}`,
    ...(options.netnsWrap
      ? ['--ip6tables=false']
      : ['--iptables=false', '--ip6tables=false', '--bridge=none', '--userland-proxy=false']),
    `--containerd-namespace=${ns}`,
    `--containerd-plugins-namespace=${ns}-plugins`,
  ];

  const logFd = openSync(logFile, 'a');
  // dockerd looks up containerd, runc and friends on PATH; runc is in /usr/sbin.
  const wrap = options.netnsWrap ?? [];
  const [command, ...prefix] = [...wrap, dockerdPath];
  const child = spawn(command as string, [...prefix, ...args], {
    stdio: ['ignore', logFd, logFd],
    env: { ...process.env, PATH: pathWithSbin() },
  });
  closeSync(logFd);
  // If the test process exits without calling stop(), at least ask dockerd
  // to shut down (it then stops its containerd and containers).
  const onExit = (): void => {
    child.kill('SIGTERM');
  };
  process.on('exit', onExit);
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));

  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: configDir };
  // These would point the client somewhere else (or at TLS) than our engine.
  delete env.DOCKER_CONTEXT;
  delete env.DOCKER_TLS_VERIFY;
  delete env.DOCKER_CERT_PATH;

  const docker = (dockerArgs: string[], opts: RunOptions = {}): Promise<RunResult> =>
    run('docker', dockerArgs, { ...opts, env: opts.env ?? env });
  const dockerOk = async (dockerArgs: string[], opts: RunOptions = {}): Promise<string> =>
    (await runOk('docker', dockerArgs, { ...opts, env: opts.env ?? env })).stdout;

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off('exit', onExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await waitForExit(child, STOP_TIMEOUT_MS))) {
        child.kill('SIGKILL');
        await waitForExit(child, 5_000);
      }
    }
    // dockerd stops the containerd it started on a clean shutdown; after a
    // SIGKILL (or a crash) that containerd would be orphaned.
    try {
      const pid = Number.parseInt(await readFile(join(execRoot, 'containerd', 'containerd.pid'), 'utf8'), 10);
      // The pid file outlives a clean stop, and pids are reused quickly: kill only if that pid is
      // still this engine's containerd, never whatever process (a test's server) got the number.
      const cmdline = Number.isInteger(pid) && pid > 0 ? await readFile(`/proc/${pid}/cmdline`, 'utf8') : '';
      if (cmdline.includes('containerd') && cmdline.includes(execRoot) && isAlive(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      // no managed containerd (or already gone)
    }
    await unmountUnder(dir);
    await removeTmpDir(dir);
  };

  const engine: Dockerd = { host, env, storageDriver, dir, logFile, docker, dockerOk, stop };

  // Wait until the API answers `docker info`, or dockerd gives up.
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = '';
  while (Date.now() < deadline) {
    const exited = child.exitCode !== null || child.signalCode !== null;
    const failedToSpawn = await Promise.race([spawnError, sleep(0).then(() => undefined)]);
    if (exited || failedToSpawn) {
      const why = failedToSpawn ? failedToSpawn.message : `exited with ${child.exitCode ?? child.signalCode}`;
      const tail = await logTail(logFile);
      await stop();
      throw new StartFailure(`dockerd (${storageDriver}) ${why}; log tail:\n${tail}`, true);
    }
    if (existsSync(socket)) {
      const r = await docker(['info', '--format', '{{.ServerVersion}} {{.Driver}}'], { timeoutMs: 10_000 }).catch(
        (e: unknown) => ({ code: -1, stdout: '', stderr: e instanceof Error ? e.message : String(e) }),
      );
      if (r.code === 0) return engine;
      lastError = r.stderr.trim();
    }
    await sleep(200);
  }
  const tail = await logTail(logFile);
  await stop();
  throw new StartFailure(
    `dockerd (${storageDriver}) did not answer within ${READY_TIMEOUT_MS} ms (last docker info error: ${lastError}); log tail:\n${tail}`,
    false,
  );
}

/**
 * Start a private Docker engine. Tries overlay2 first and falls back to vfs
 * when dockerd refuses overlay2 (e.g. data root on overlayfs inside some
 * containers). WHARF_DOCKER_STORAGE_DRIVER forces one driver.
 */
export async function startDockerd(options: DockerdOptions = {}): Promise<Dockerd> {
  const dockerdPath = whichTool('dockerd');
  if (dockerdPath === undefined) throw new Error('dockerd not found (apt-get install -y docker.io)');
  const forced = process.env.WHARF_DOCKER_STORAGE_DRIVER;
  const drivers = forced ? [forced] : ['overlay2', 'vfs'];
  const failures: string[] = [];
  for (const driver of drivers) {
    try {
      return await startWithDriver(dockerdPath, driver, options);
    } catch (e) {
      if (!(e instanceof StartFailure) || !e.exited) throw e;
      failures.push(e.message);
    }
  }
  throw new Error(`could not start dockerd:\n${failures.join('\n\n')}`);
}

/**
 * Build a one-layer busybox image with `docker import` (CMD ["/bin/sh"]) of busyboxRootfsTar's
 * rootfs (deterministic, so the layer is the same every time, and the same as the one Wharf's
 * tests import). Returns the image ID (sha256:…).
 */
export async function makeBusyboxImage(d: Dockerd, ref: string): Promise<string> {
  const stage = await tmpDir('wharf-rootfs');
  try {
    const tarFile = await busyboxRootfsTar(stage);
    const out = await d.dockerOk(['import', '--change', 'CMD ["/bin/sh"]', tarFile, ref]);
    return out.trim();
  } finally {
    await removeTmpDir(stage);
  }
}

/**
 * Make `newRef` = `baseRef` + one layer holding `fileName` (absolute or
 * relative to /, parent directories are created) with `content`.
 *
 * Uses `docker create` + `docker cp` + `docker commit`, so no container is
 * ever started: this works even where the engine cannot run containers.
 * Returns the new image ID (sha256:…).
 */
export async function commitLayer(
  d: Dockerd,
  baseRef: string,
  newRef: string,
  fileName: string,
  content: string | Buffer,
): Promise<string> {
  const relative = normalize(fileName).replace(/^\/+/, '');
  if (relative === '' || relative === '.' || relative.startsWith('..')) {
    throw new Error(`bad file name for commitLayer: ${fileName}`);
  }
  const stage = await tmpDir('wharf-layer');
  let container: string | undefined;
  try {
    // Copy a directory tree ("stage/root/." → "/"): docker cp creates any
    // parent directories. Modes are set explicitly because the copied tree's
    // directory modes end up in the layer (mkdtemp makes 0700 dirs).
    const root = join(stage, 'root');
    const target = join(root, relative);
    await mkdir(dirname(target), { recursive: true, mode: 0o755 });
    await chmod(root, 0o755);
    await writeFile(target, content, { mode: 0o644 });
    // A command is given because an imported image may have no CMD.
    container = (await d.dockerOk(['create', '--network', 'none', baseRef, '/bin/sh'])).trim();
    await d.dockerOk(['cp', `${root}/.`, `${container}:/`]);
    return (await d.dockerOk(['commit', container, newRef])).trim();
  } finally {
    if (container !== undefined) await d.docker(['rm', '-f', container]);
    await removeTmpDir(stage);
  }
}

/** Whether this engine can actually run a container (`docker run --network none`). */
export async function canRunContainers(d: Dockerd, ref: string): Promise<boolean> {
  const r = await d.docker(['run', '--rm', '--network', 'none', ref, '/bin/true'], { timeoutMs: 60_000 });
  return r.code === 0;
}
