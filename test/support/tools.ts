// Helpers for interop tests that drive real tools (docker, skopeo, umoci,
// docker-registry, busybox, runc). See DESIGN.md "Testing": a missing tool
// skips its tests locally, but fails them when WHARF_REQUIRE_INTEROP=1 (CI).
// The same goes for tests that need root. Every such guard goes through the
// functions here (interopDescribe, interopIt, rootDescribe, rootIt,
// notAsRootIt), never a bare describe.skipIf, and a skip's title carries a
// mark that .ci/run finds in the JSON report (docs/testing.md).
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, it, type TestFunction } from 'vitest';

/** Directories searched in addition to $PATH: daemons live in sbin on Debian. */
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Debian package providing each tool we know about. */
const DEBIAN_PACKAGES: Record<string, string> = {
  docker: 'docker.io',
  dockerd: 'docker.io',
  skopeo: 'skopeo',
  umoci: 'umoci',
  'docker-registry': 'docker-registry',
  'docker-proxy': 'docker.io',
  busybox: 'busybox-static',
  runc: 'runc',
  htpasswd: 'apache2-utils',
  openssl: 'openssl',
  ip: 'iproute2',
  setfattr: 'attr',
  getfattr: 'attr',
  chromium: 'chromium',
  script: 'bsdutils',
  'systemd-analyze': 'systemd',
  'swift-proxy-server': 'swift-proxy',
  'swift-object-server': 'swift-object',
  memcached: 'memcached',
  pg_ctlcluster: 'postgresql-15',
};

/**
 * Marks at the end of a skipped test's title (or its block's). .ci/run fails on any skipped test
 * without the `deliberate` mark; keep its copy in .ci/summary.cjs in step.
 */
export const SKIP_MARK = {
  /** Skipped for a missing tool or for not being root. */
  unmet: '[skipped: ',
  /** Skipped on purpose: a test whose twin covers the other case (e.g. a non-root test, as root). */
  deliberate: '[skipped on purpose: ',
} as const;

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

/** Why tools are missing (and how to install them), or undefined when all are there. */
/** CI's second runtime leg (.ci/node24) runs only the tests that need no interop tool. */
const INTEROP_ELSEWHERE = 'interop tests run in the main CI leg]';

function missingTools(tools: string[]): string | undefined {
  const missing = tools.filter((t) => !haveTool(t));
  if (missing.length === 0) return undefined;
  return `missing tool(s): ${missing.join(', ')}; install with: ${installCommand(missing)}`;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function notRoot(): string | undefined {
  return isRoot() ? undefined : `needs root (running as uid ${process.getuid?.()})`;
}

/** The one policy: run; or, for an unmet need, fail under WHARF_REQUIRE_INTEROP=1, else skip with a mark. */
function guard(
  title: string,
  unmet: string | undefined,
  register: (title: string, skip: boolean) => void,
  fail: (why: string) => void,
): void {
  if (unmet === undefined) {
    register(title, false);
    return;
  }
  if (process.env.WHARF_REQUIRE_INTEROP === '1') {
    fail(`WHARF_REQUIRE_INTEROP=1 but ${unmet}`);
    return;
  }
  console.warn(`[interop] skipping "${title}": ${unmet}`);
  register(`${title} ${SKIP_MARK.unmet}${unmet}]`, true);
}

function guardDescribe(title: string, unmet: string | undefined, check: string, fn: () => void): void {
  guard(
    title,
    unmet,
    (t, skip) => (skip ? describe.skip(t, fn) : describe(t, fn)),
    (why) =>
      describe(title, () => {
        it(check, () => {
          throw new Error(why);
        });
      }),
  );
}

function guardIt(title: string, unmet: string | undefined, fn: TestFunction, timeout?: number): void {
  guard(
    title,
    unmet,
    (t, skip) => (skip ? it.skip(t, fn) : it(t, fn, timeout)),
    (why) =>
      it(title, () => {
        throw new Error(why);
      }),
  );
}

/**
 * `describe(title, fn)` when every tool is installed. Otherwise the block is
 * skipped with a warning, or — when WHARF_REQUIRE_INTEROP=1 — replaced by one
 * failing test that names the missing tools and how to install them. WHARF_INTEROP=skip skips
 * every such block.
 */
export function interopDescribe(title: string, tools: string[], fn: () => void): void {
  if (process.env.WHARF_INTEROP === 'skip') {
    describe.skip(`${title} ${SKIP_MARK.deliberate}${INTEROP_ELSEWHERE}`, fn);
    return;
  }
  guardDescribe(title, missingTools(tools), 'has the interop tools it needs', fn);
}

/** One test that needs tools: like interopDescribe. */
export function interopIt(title: string, tools: string[], fn: TestFunction, timeout?: number): void {
  if (process.env.WHARF_INTEROP === 'skip') {
    it.skip(`${title} ${SKIP_MARK.deliberate}${INTEROP_ELSEWHERE}`, fn);
    return;
  }
  guardIt(title, missingTools(tools), fn, timeout);
}

/** A block that needs root (mounts, devices, chown): skipped when not root, a failure under WHARF_REQUIRE_INTEROP=1. */
export function rootDescribe(title: string, fn: () => void): void {
  guardDescribe(title, notRoot(), 'runs as root', fn);
}

/** One test that needs root: like rootDescribe. */
export function rootIt(title: string, fn: TestFunction, timeout?: number): void {
  guardIt(title, notRoot(), fn, timeout);
}

/**
 * A test of what a non-root user gets, whose root twin is a rootIt: as root it is skipped on
 * purpose, with `why` in its title (never a CI failure).
 */
export function notAsRootIt(title: string, why: string, fn: TestFunction, timeout?: number): void {
  if (isRoot()) it.skip(`${title} ${SKIP_MARK.deliberate}${why}]`, fn);
  else it(title, fn, timeout);
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Kill the process (SIGKILL) and reject after this long. Default 5 min. */
  timeoutMs?: number;
  cwd?: string;
  /** Sees stdout as it arrives (to wait for a line), besides collecting it. */
  onStdout?: (text: string) => void;
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
    child.stdout?.on('data', (b: Buffer) => {
      out.push(b);
      opts.onStdout?.(b.toString('utf8'));
    });
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

/**
 * Polls `check` until it holds, instead of a fixed sleep that races under load; throws naming
 * `what` after `timeoutMs`.
 */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  { timeoutMs = 20_000, intervalMs = 10 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
