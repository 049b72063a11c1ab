// The reference registry (Debian's docker-registry, i.e. distribution 2.8)
// on 127.0.0.1:<free port> with filesystem storage in a temp dir, for
// side-by-side checks against Wharf.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, removeTmpDir, sleep, tmpDir, whichTool } from './tools.js';

export interface ReferenceRegistry {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** `127.0.0.1:PORT`, the registry part of an image reference. */
  host: string;
  logFile: string;
  stop(): Promise<void>;
  /** Stops the process but keeps its storage: `resume()` brings it back on the same port with the same images. */
  pause(): Promise<void>;
  resume(): Promise<void>;
}

const READY_TIMEOUT_MS = 30_000;

async function tail(file: string, lines = 20): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function startOnce(binary: string, htpasswd?: string): Promise<ReferenceRegistry | { exited: string }> {
  const dir = await tmpDir('wharf-refreg');
  const storage = join(dir, 'storage');
  await mkdir(storage);
  const port = await freePort();
  const configFile = join(dir, 'config.yml');
  const logFile = join(dir, 'registry.log');
  // JSON strings are valid YAML scalars, so paths need no further quoting.
  await writeFile(
    configFile,
    [
      'version: 0.1',
      'log:',
      '  level: info',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${JSON.stringify(storage)}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${JSON.stringify(`127.0.0.1:${port}`)}`,
      ...(htpasswd ? ['auth:', '  htpasswd:', '    realm: reference', `    path: ${JSON.stringify(htpasswd)}`] : []),
      '',
    ].join('\n'),
  );
  const launch = () => {
    const logFd = openSync(logFile, 'a');
    const c = spawn(binary, ['serve', configFile], { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    return c;
  };
  let child = launch();
  const onExit = (): void => {
    child.kill('SIGKILL');
  };
  process.on('exit', onExit);

  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
  };
  const stop = async (): Promise<void> => {
    process.off('exit', onExit);
    await kill();
    await removeTmpDir(dir);
  };

  const url = `http://127.0.0.1:${port}`;
  /** Waits until the registry answers; the reason when the process exits first. */
  const ready = async (): Promise<string | undefined> => {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        return `docker-registry exited with ${child.exitCode ?? child.signalCode}; log:\n${await tail(logFile)}`;
      }
      try {
        const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) });
        if (res.status === 200 || (htpasswd && res.status === 401)) return undefined;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(
      `docker-registry did not answer GET /v2/ within ${READY_TIMEOUT_MS} ms; log:\n${await tail(logFile)}`,
    );
  };
  const resume = async (): Promise<void> => {
    child = launch();
    const exited = await ready();
    if (exited !== undefined) throw new Error(exited);
  };

  try {
    const exited = await ready();
    if (exited === undefined) return { url, port, host: `127.0.0.1:${port}`, logFile, stop, pause: kill, resume };
    await stop();
    // Most likely someone took the port between freePort() and bind.
    return { exited };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** With `htpasswd` (a bcrypt htpasswd file), the registry asks for Basic credentials. */
export async function startReferenceRegistry(options: { htpasswd?: string } = {}): Promise<ReferenceRegistry> {
  const binary = whichTool('docker-registry');
  if (binary === undefined) throw new Error('docker-registry not found (apt-get install -y docker-registry)');
  let lastFailure = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await startOnce(binary, options.htpasswd);
    if (!('exited' in r)) return r;
    lastFailure = r.exited;
  }
  throw new Error(`could not start docker-registry: ${lastFailure}`);
}
