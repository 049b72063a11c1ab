// Helpers for interop tests that drive real tools (docker, skopeo, umoci,
// docker-registry, busybox, runc). See DESIGN.md "Testing": a missing tool
// skips its tests locally, but fails them when WHARF_REQUIRE_INTEROP=1 (CI).
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, it } from 'vitest';

/** Directories searched in addition to $PATH: daemons live in sbin on Debian. */
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Debian package providing each tool we know about. */
const DEBIAN_PACKAGES: Record<string, string> = {
  docker: 'docker.io',
  dockerd: 'docker.io',
  skopeo: 'skopeo',
  umoci: 'umoci',
  'docker-registry': 'docker-registry',
  busybox: 'busybox-static',
  runc: 'runc',
  htpasswd: 'apache2-utils',
  openssl: 'openssl',
  ip: 'iproute2',
  setfattr: 'attr',
  chromium: 'chromium',
};

/** $PATH with the sbin directories appended (once each). */
export function pathWithSbin(path: string = process.env.PATH ?? ''): string {
  const dirs = path.split(delimiter).filter((d) => d !== '');
  for (const d of SBIN_DIRS) if (!dirs.includes(d)) dirs.push(d);
  return dirs.join(delimiter);
}

/** Absolute path of the first executable `name` on $PATH (+ sbin dirs), if any. */
export function whichTool(name: string): string | undefined {
  for (const dir of pathWithSbin().split(delimiter)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

export function haveTool(name: string): boolean {
  return whichTool(name) !== undefined;
}

/** `apt-get install -y …` for the packages that provide `tools`. */
export function installCommand(tools: string[]): string {
  const pkgs = [...new Set(tools.map((t) => DEBIAN_PACKAGES[t] ?? t))];
  return `apt-get install -y ${pkgs.join(' ')}`;
}

/**
 * `describe(title, fn)` when every tool is installed. Otherwise the block is
 * skipped with a warning, or — when WHARF_REQUIRE_INTEROP=1 — replaced by one
 * failing test that names the missing tools and how to install them. WHARF_INTEROP=skip skips
 * every such block.
 */
export function interopDescribe(title: string, tools: string[], fn: () => void): void {
  // CI's second runtime leg (.ci/node24) runs only the tests that need no interop tool.
  if (process.env.WHARF_INTEROP === 'skip') {
    describe.skip(title, fn);
    return;
  }
  const missing = tools.filter((t) => !haveTool(t));
  if (missing.length === 0) {
    describe(title, fn);
    return;
  }
  const message = `missing tool(s): ${missing.join(', ')}; install with: ${installCommand(missing)}`;
  if (process.env.WHARF_REQUIRE_INTEROP === '1') {
    describe(title, () => {
      it('has the interop tools it needs', () => {
        throw new Error(`WHARF_REQUIRE_INTEROP=1 but ${message}`);
      });
    });
    return;
  }
  console.warn(`[interop] skipping "${title}": ${message}`);
  describe.skip(title, fn);
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Kill the process (SIGKILL) and reject after this long. Default 5 min. */
  timeoutMs?: number;
  cwd?: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run a command without a shell and collect its output. Resolves whatever the
 * exit code (a signal death is reported as 128 + signal number); rejects only
 * when the command cannot be started or times out.
 */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 300_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      // Without input, stdin is /dev/null so nothing ever waits on it.
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    // Always pipes here; the types cannot tell because stdin's mode varies.
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) {
        reject(new Error(`${cmd} ${args.join(' ')} timed out after ${timeoutMs} ms; stderr: ${stderr}`));
        return;
      }
      const signalCode = signal === null ? 0 : (osConstants.signals[signal] ?? 0);
      resolve({ code: code ?? 128 + signalCode, stdout, stderr });
    });
    if (child.stdin) {
      // A tool that exits before reading all input must not crash the test.
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input);
    }
  });
}

/** Like run(), but throws (with stderr) when the exit code is not 0. */
export async function runOk(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const result = await run(cmd, args, opts);
  if (result.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} exited with ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`,
    );
  }
  return result;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not get a free port'));
        return;
      }
      const { port } = address;
      server.close(() => resolve(port));
    });
  });
}

/** A new private directory under os.tmpdir(); remove it with removeTmpDir(). */
export function tmpDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix.endsWith('-') ? prefix : `${prefix}-`));
}

export async function removeTmpDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Sleep helper for polling loops. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
