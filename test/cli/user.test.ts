// `wharf user …` run as users run it: the built CLI in a subprocess on a temporary data
// directory, password on stdin (or typed on a pseudo-terminal made by script(1)).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../../src/auth/passwords.js';
import { findAccount } from '../../src/metadata/accounts.js';
import { openSqlite } from '../../src/metadata/db.js';
import { WHARF_BIN } from '../support/server.js';
import { interopDescribe, type RunResult, removeTmpDir, run, tmpDir } from '../support/tools.js';

/** The environment without WHARF_… variables, so that only the flags choose the data directory. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WHARF_')));
}

function wharf(args: string[], input?: string): Promise<RunResult> {
  return run(process.execPath, [WHARF_BIN, ...args], { env: cleanEnv(), timeoutMs: 30_000, input });
}

async function account(dir: string, name: string) {
  const db = await openSqlite(join(dir, 'wharf.db'));
  try {
    return await findAccount(db, name);
  } finally {
    await db.destroy();
  }
}

function expectError(result: RunResult, message: string | RegExp): void {
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  if (typeof message === 'string') expect(result.stderr).toBe(`wharf: ${message}\n`);
  else {
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  }
}

describe('wharf user', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await tmpDir('wharf-cli-user');
  });
  afterAll(async () => {
    await removeTmpDir(dir);
  });

  it('refuses to work on a data directory without a database, and does not create one', async () => {
    for (const args of [['list'], ['disable', 'bob'], ['enable', 'bob']]) {
      expectError(await wharf(['user', ...args, '--data', dir]), `no Wharf data in ${dir}`);
    }
    expectError(
      await wharf(['user', 'passwd', 'bob', '--password-stdin', '--data', dir], 'password1\n'),
      `no Wharf data in ${dir}`,
    );
    expect(existsSync(join(dir, 'wharf.db'))).toBe(false);
  });

  it('adds accounts, creating the database, and lists them as a table', async () => {
    const admin = await wharf(['user', 'add', 'alice', '--admin', '--password-stdin', '--data', dir], 'alice-secret\n');
    expect(admin).toEqual({ code: 0, stdout: '', stderr: '' });
    const plain = await wharf(['user', 'add', 'bob.builder_2', '--password-stdin', '--data', dir], 'bob-secret');
    expect(plain.code).toBe(0);

    const alice = await account(dir, 'alice');
    expect(alice).toMatchObject({ isAdmin: true, disabled: false });
    // One trailing newline is not part of the password.
    expect(await verifyPassword(alice!.passwordHash, 'alice-secret')).toBe(true);
    const bob = await account(dir, 'bob.builder_2');
    expect(bob).toMatchObject({ isAdmin: false, disabled: false });
    expect(await verifyPassword(bob!.passwordHash, 'bob-secret')).toBe(true);

    const list = await wharf(['user', 'list', '--data', dir]);
    expect(list.code).toBe(0);
    const lines = list.stdout.split('\n');
    expect(lines.at(-1)).toBe('');
    // tabwriter: each column max(longest + 3, 10) wide, the last one not padded.
    expect(lines[0]).toBe('USERNAME        ADMIN     DISABLED   CREATED');
    expect(lines[1]).toBe(`alice           yes       no         ${alice!.createdAt}`);
    expect(lines[2]).toBe(`bob.builder_2   no        no         ${bob!.createdAt}`);
    expect(lines).toHaveLength(4);
  });

  it('lists accounts as JSON lines, without password hashes', async () => {
    const result = await wharf(['user', 'ls', '--format', 'json', '--data', dir]);
    expect(result.code).toBe(0);
    const entries = result.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(entries).toEqual([
      { Username: 'alice', Admin: true, Disabled: false, CreatedAt: expect.any(String) },
      { Username: 'bob.builder_2', Admin: false, Disabled: false, CreatedAt: expect.any(String) },
    ]);
    expectError(
      await wharf(['user', 'list', '--format', 'yaml', '--data', dir]),
      'invalid --format "yaml": use table or json',
    );
  });

  it('refuses a duplicate username and keeps the existing password', async () => {
    const result = await wharf(['user', 'add', 'alice', '--password-stdin', '--data', dir], 'another-secret\n');
    expectError(result, 'user "alice" already exists');
    expect(await verifyPassword((await account(dir, 'alice'))!.passwordHash, 'alice-secret')).toBe(true);
  });

  it('refuses usernames outside the namespace grammar', async () => {
    // After `--`, so that '-a' is a name, not an option.
    const bad = ['Alice', 'a..b', '-a', 'a-', 'a/b', 'a b', 'a__b', 'ä', '', 'x'.repeat(65)];
    for (const name of bad) {
      const result = await wharf(['user', 'add', '--password-stdin', '--data', dir, '--', name], 'password1\n');
      expectError(result, /^wharf: invalid username /);
      expect(await account(dir, name)).toBeUndefined();
    }
    const longest = 'x'.repeat(64);
    expect((await wharf(['user', 'add', longest, '--password-stdin', '--data', dir], 'password1')).code).toBe(0);
    expect(await account(dir, longest)).toBeDefined();
  });

  it('refuses passwords shorter than 8 characters', async () => {
    for (const password of ['', '\n', 'seven77\n', 'seven77\r\n']) {
      const result = await wharf(['user', 'add', 'carol', '--password-stdin', '--data', dir], password);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^wharf: (password must be at least 8 characters|no password on stdin)\n$/);
    }
    expect(await account(dir, 'carol')).toBeUndefined();
    // Eight characters, counted as characters (not bytes).
    expect((await wharf(['user', 'add', 'carol', '--password-stdin', '--data', dir], 'éééééééé\r\n')).code).toBe(0);
    expect(await verifyPassword((await account(dir, 'carol'))!.passwordHash, 'éééééééé')).toBe(true);
  });

  it('asks for --password-stdin when stdin is not a terminal', async () => {
    // run() without input gives the child /dev/null as stdin.
    const result = await wharf(['user', 'add', 'dave', '--data', dir]);
    expectError(result, 'cannot prompt for a password: stdin is not a terminal; use --password-stdin');
    expect(await account(dir, 'dave')).toBeUndefined();
  });

  it('changes a password', async () => {
    const before = (await account(dir, 'bob.builder_2'))!;
    const result = await wharf(
      ['user', 'passwd', 'bob.builder_2', '--password-stdin', '--data', dir],
      'new-bob-secret\n',
    );
    expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
    const after = (await account(dir, 'bob.builder_2'))!;
    expect(after.passwordHash).not.toBe(before.passwordHash);
    expect(await verifyPassword(after.passwordHash, 'new-bob-secret')).toBe(true);
    expect(await verifyPassword(after.passwordHash, 'bob-secret')).toBe(false);

    const short = await wharf(['user', 'passwd', 'bob.builder_2', '--password-stdin', '--data', dir], 'short\n');
    expectError(short, 'password must be at least 8 characters');
    expect((await account(dir, 'bob.builder_2'))!.passwordHash).toBe(after.passwordHash);

    expectError(
      await wharf(['user', 'passwd', 'nobody', '--password-stdin', '--data', dir], 'password1\n'),
      'no such user: nobody',
    );
  });

  it('disables and enables an account', async () => {
    expect(await wharf(['user', 'disable', 'alice', '--data', dir])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await account(dir, 'alice'))!.disabled).toBe(true);
    // Disabling twice is not an error.
    expect((await wharf(['user', 'disable', 'alice', '--data', dir])).code).toBe(0);
    const list = await wharf(['user', 'list', '--data', dir]);
    expect(list.stdout.split('\n').find((l) => l.startsWith('alice '))).toMatch(/^alice +yes +yes +\S+$/);

    expect((await wharf(['user', 'enable', 'alice', '--data', dir])).code).toBe(0);
    expect((await account(dir, 'alice'))!.disabled).toBe(false);

    expectError(await wharf(['user', 'disable', 'nobody', '--data', dir]), 'no such user: nobody');
    expectError(await wharf(['user', 'enable', 'nobody', '--data', dir]), 'no such user: nobody');
  });

  it('finds the data directory through --config like serve does', async () => {
    const config = join(dir, 'wharf.yaml');
    await writeFile(config, `storage:\n  root: ${JSON.stringify(dir)}\n`);
    const result = await wharf(['user', 'list', '--format', 'json', '-c', config]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('"Username":"alice"');
    // --data wins over the file.
    const other = await tmpDir('wharf-cli-user-other');
    try {
      expectError(await wharf(['user', 'list', '-c', config, '--data', other]), `no Wharf data in ${other}`);
    } finally {
      await removeTmpDir(other);
    }
  });

  it('warns when the first account is not an administrator', async () => {
    const fresh = await tmpDir('wharf-cli-user-first');
    try {
      const result = await wharf(['user', 'add', 'erin', '--password-stdin', '--data', fresh], 'password1\n');
      expect(result.code).toBe(0);
      expect(result.stderr).toMatch(/^warning: erin is the first account and is not an administrator/);
    } finally {
      await removeTmpDir(fresh);
    }
  });
});

/**
 * Runs `wharf ARGS` on a pseudo-terminal (script(1)), answering each prompt with the next
 * answer once the prompt has been printed. Returns the terminal output and exit code.
 */
function onTerminal(args: string[], answers: string[]): Promise<{ code: number; output: string }> {
  const command = [process.execPath, WHARF_BIN, ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: cleanEnv(), stdio: 'pipe' });
    let output = '';
    let answered = 0;
    const prompts = /(Retype password|Password): $/;
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (b: Buffer) => {
      output += b.toString('utf8');
      if (answered < answers.length && prompts.test(output)) {
        child.stdin.write(answers[answered]);
        answered += 1;
        // Each answer ends the prompt with CR LF: the pattern no longer matches.
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, output });
    });
  });
}

interopDescribe('wharf user on a terminal', ['script'], () => {
  let dir: string;

  beforeAll(async () => {
    dir = await tmpDir('wharf-cli-user-tty');
  });
  afterAll(async () => {
    await removeTmpDir(dir);
  });

  it('prompts twice without echoing the password', async () => {
    const result = await onTerminal(
      ['user', 'add', 'frank', '--admin', '--data', dir],
      ['typed-secret\r', 'typed-secret\r'],
    );
    expect(result.code).toBe(0);
    expect(result.output).toContain('Password: ');
    expect(result.output).toContain('Retype password: ');
    expect(result.output).not.toContain('typed-secret');
    expect(await verifyPassword((await account(dir, 'frank'))!.passwordHash, 'typed-secret')).toBe(true);
  });

  it('handles backspace, and refuses two different passwords', async () => {
    const ok = await onTerminal(
      ['user', 'passwd', 'frank', '--data', dir],
      ['changed-secretX\x7f\r', 'changed-secret\r'],
    );
    expect(ok.code).toBe(0);
    expect(await verifyPassword((await account(dir, 'frank'))!.passwordHash, 'changed-secret')).toBe(true);

    const mismatch = await onTerminal(
      ['user', 'passwd', 'frank', '--data', dir],
      ['first-secret\r', 'second-secret\r'],
    );
    expect(mismatch.code).toBe(1);
    expect(mismatch.output).toContain('wharf: passwords do not match');
    expect(await verifyPassword((await account(dir, 'frank'))!.passwordHash, 'changed-secret')).toBe(true);
  });

  it('stops on Ctrl-C without creating the account', async () => {
    const result = await onTerminal(['user', 'add', 'grace', '--data', dir], ['half\x03']);
    expect(result.code).toBe(1);
    expect(result.output).toContain('wharf: interrupted');
    expect(await account(dir, 'grace')).toBeUndefined();
  });
});
