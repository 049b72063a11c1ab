// First start: on a terminal (a real pseudo-terminal, through script(1)) `wharf serve` prints a
// banner and text logs; with output to a pipe it prints JSON lines and no banner.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFormat } from '../../src/server/logger.js';
import { WHARF_BIN } from '../support/server.js';
import { freePort, removeTmpDir, tmpDir } from '../support/tools.js';

/** process.env without WHARF_ variables (CI sets some), in token mode (the hub, with its admin). */
function serveEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WHARF_')));
  return { ...env, WHARF_AUTH_MODE: 'token', TERM: 'dumb' };
}

/** Runs `cmd` until its output contains `until`, then stops it; returns the output (stdout + stderr). */
function outputUntil(cmd: string, args: string[], until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: serveEnv(), stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let output = '';
    const timer = setTimeout(() => finish(new Error(`timed out; output so far:\n${output}`)), 90_000);
    const finish = (err?: Error) => {
      clearTimeout(timer);
      try {
        // The whole process group: script(1) and the wharf under it.
        process.kill(-(child.pid as number), 'SIGTERM');
      } catch {
        // already gone
      }
      child.once('close', () => (err ? reject(err) : resolve(output)));
      if (child.exitCode !== null || child.signalCode !== null) err ? reject(err) : resolve(output);
    };
    const onData = (d: Buffer) => {
      output += d.toString();
      if (until.test(output)) finish();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => finish(e));
  });
}

describe('first start', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tmpDir('wharf-first-start-');
  });
  afterAll(() => removeTmpDir(dir));

  it('log.format auto: text on a terminal, JSON elsewhere; an explicit format wins', () => {
    expect(logFormat({ level: 'info', format: 'auto' }, true)).toBe('text');
    expect(logFormat({ level: 'info', format: 'auto' }, false)).toBe('json');
    expect(logFormat({ level: 'info', format: 'json' }, true)).toBe('json');
    expect(logFormat({ level: 'info', format: 'text' }, false)).toBe('text');
  });

  // script(1) is util-linux's (Debian's essential bsdutils): always there.
  it('on a terminal: a banner with the address, data directory, admin password file and next steps', async () => {
    const port = await freePort();
    const data = join(dir, 'tty-data');
    const command = [process.execPath, WHARF_BIN, 'serve', '--addr', `127.0.0.1:${port}`, '--data', data]
      .map((a) => `'${a}'`)
      .join(' ');
    const out = (await outputUntil('script', ['-qefc', command, '/dev/null'], /Stop with Ctrl\+C/)).replace(/\r/g, '');
    expect(out).toContain('Wharf is running.');
    expect(out).toMatch(
      new RegExp(`Address +http://127\\.0\\.0\\.1:${port} +\\(web UI: http://127\\.0\\.0\\.1:${port}/\\)`),
    );
    expect(out).toMatch(new RegExp(`Data directory +${data}\\n`));
    expect(out).toContain(`Admin password   in ${join(data, 'admin-password')} (user admin)`);
    expect(out).toContain(`docker login 127.0.0.1:${port} -u admin`);
    expect(out).toContain('wharf config check');
    // Logs are text lines, not JSON objects.
    expect(out).toMatch(/^\d\d:\d\d:\d\d INFO +wharf registry listening addr=127\.0\.0\.1:\d+/m);
    expect(out).not.toMatch(/^\{"level"/m);
  });

  it('with output to a pipe: JSON log lines and no banner', async () => {
    const port = await freePort();
    const out = await outputUntil(
      process.execPath,
      [WHARF_BIN, 'serve', '--addr', `127.0.0.1:${port}`, '--data', join(dir, 'pipe-data')],
      /"msg":"wharf registry listening"/,
    );
    expect(out).toMatch(/^\{"level":30,.*"msg":"wharf registry listening"\}$/m);
    expect(out).not.toContain('Wharf is running.');
  });
});
