// Starting, probing and stopping the two registries, plus /proc-based memory sampling.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';

export type ServerKind = 'reference' | 'wharf';

export interface RunningServer {
  kind: ServerKind;
  origin: string;
  pid: number;
  dataDir: string;
  /** Last lines of the server's stdout/stderr, for error messages. */
  output(): string;
  stop(): Promise<void>;
}

export const REFERENCE_BIN = '/usr/bin/docker-registry';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        reject(new Error('no port'));
        return;
      }
      srv.close(() => resolve(addr.port));
    });
  });
}

// Every spawned server, so an unexpected exit can still kill them synchronously.
const live = new Map<ChildProcess, string>();
process.on('exit', () => {
  for (const [child, dir] of live) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

function referenceConfig(port: number, root: string): string {
  // JSON strings are valid YAML scalars, so paths need no quoting of their own.
  // Access log disabled explicitly: it is written regardless of log.level, and Wharf
  // runs with its logs silenced too. inmemory blobdescriptor cache is the stock config.
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(root)}`,
    '  delete:',
    '    enabled: true',
    '  cache:',
    '    blobdescriptor: inmemory',
    'http:',
    `  addr: ${JSON.stringify(`127.0.0.1:${port}`)}`,
    '  secret: wharf-bench-secret',
    '',
  ].join('\n');
}

class EarlyExit extends Error {}

/** `env`: extra variables for a Wharf server (e.g. WHARF_PROXY_REMOTES). */
export async function startServer(
  kind: ServerKind,
  repoRoot: string,
  env: NodeJS.ProcessEnv = {},
): Promise<RunningServer> {
  // freePort() closes its socket before the server binds, so someone else may grab the
  // port in between; an early exit is retried a couple of times with a fresh port.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(kind, repoRoot, env);
    } catch (err) {
      if (!(err instanceof EarlyExit) || attempt >= 3) throw err;
    }
  }
}

async function startOnce(kind: ServerKind, repoRoot: string, env: NodeJS.ProcessEnv): Promise<RunningServer> {
  const dataDir = await mkdtemp(join(tmpdir(), `wharf-bench-${kind}-`));
  const port = await freePort();
  let child: ChildProcess;
  if (kind === 'reference') {
    const configPath = join(dataDir, 'config.yml');
    const storage = join(dataDir, 'storage');
    await writeFile(configPath, referenceConfig(port, storage));
    child = spawn(REFERENCE_BIN, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  } else {
    const storage = join(dataDir, 'data');
    // No access control, like the reference's config: the bench measures the registry, not logins.
    child = spawn(
      process.execPath,
      [join(repoRoot, 'dist/cli/main.js'), 'serve', '--addr', `127.0.0.1:${port}`, '--data', storage],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, WHARF_LOG_LEVEL: 'error', WHARF_AUTH_MODE: 'none', ...env },
      },
    );
  }
  live.set(child, dataDir);
  // Pipes must be drained or a chatty server would block on write; keep only a tail.
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited: string | null = null;
  const exitPromise = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exited = `exited with ${code ?? signal}`;
      live.delete(child);
      resolve();
    });
    child.on('error', (err) => {
      exited = `failed to start: ${err.message}`;
      live.delete(child);
      resolve();
    });
  });
  const origin = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (exited === null) {
      child.kill('SIGTERM');
      const timedOut = await Promise.race([exitPromise.then(() => false), sleep(5000).then(() => true)]);
      if (timedOut) {
        child.kill('SIGKILL');
        await exitPromise;
      }
    }
    await rm(dataDir, { recursive: true, force: true });
    // Deleting the files drops their dirty pages; sync flushes whatever is left so the
    // next server does not pay for this one's writeback.
    try {
      execFileSync('sync');
    } catch {
      // sync is best effort
    }
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== null) {
      await stop();
      throw new EarlyExit(`${kind} ${exited}\n${tail}`);
    }
    try {
      const res = await request(`${origin}/v2/`, { method: 'GET', headersTimeout: 1000, bodyTimeout: 1000 });
      await res.body.dump();
      if (res.statusCode === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${kind} did not answer GET /v2/ with 200 within 30 s\n${tail}`);
    }
    await sleep(100);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${kind}: no pid`);
  return { kind, origin, pid, dataDir, output: () => tail, stop };
}

/** The pid and all its descendants, in case a server forks workers. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i] as number;
    try {
      const children = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
      if (children !== '') for (const c of children.split(/\s+/)) out.push(Number(c));
    } catch {
      // process went away between reads
    }
  }
  return out;
}

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] === undefined ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}

/** Resident set size of the whole process tree, in MiB. */
export function rssMiB(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + statusKiB(p, 'VmRSS'), 0) / 1024;
}

/** Lifetime peak RSS (VmHWM) of the tree, in MiB. */
export function hwmMiB(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + statusKiB(p, 'VmHWM'), 0) / 1024;
}

/** Samples RSS every `intervalMs` until stopped; returns the peak seen (MiB). */
export function sampleRss(pid: number, intervalMs = 50): { stop(): number } {
  let peak = rssMiB(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMiB(pid));
  }, intervalMs);
  return {
    stop(): number {
      clearInterval(timer);
      return Math.max(peak, rssMiB(pid));
    },
  };
}

export function referenceVersion(): string {
  try {
    return execFileSync(REFERENCE_BIN, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}
