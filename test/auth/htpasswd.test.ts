import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Htpasswd } from '../../src/auth/htpasswd.js';
import { verifyPassword } from '../../src/auth/passwords.js';
import { interopDescribe, removeTmpDir, runOk, tmpDir } from '../support/tools.js';

let dir: string;
let file: string;
let logs: string[];
let clock: number;
const now = (): number => clock;
const log = (msg: string): void => {
  logs.push(msg);
};

beforeEach(async () => {
  dir = await tmpDir('wharf-htpasswd');
  file = join(dir, 'htpasswd');
  logs = [];
  clock = 1_000_000;
});

afterEach(async () => {
  await removeTmpDir(dir);
});

describe('htpasswd file', () => {
  it('accepts bcrypt entries, with comments, blank lines and CRLF', async () => {
    const alice = await bcrypt.hash('alice-pw', 4);
    const bob = (await bcrypt.hash('bob-pw', 4)).replace(/^\$2b\$/, '$2y$');
    await writeFile(file, `# users\r\n\r\nalice:${alice}\r\n  \r\nbob:${bob}\r\n`);
    const h = new Htpasswd(file, log);
    expect(await h.users()).toEqual(['alice', 'bob']);
    expect(await h.verify('alice', 'alice-pw')).toBe(true);
    expect(await h.verify('bob', 'bob-pw')).toBe(true);
    expect(await h.verify('alice', 'bob-pw')).toBe(false);
    expect(await h.verify('Alice', 'alice-pw')).toBe(false);
    expect(await h.verify('carol', 'alice-pw')).toBe(false);
    expect(await h.verify('', '')).toBe(false);
    expect(logs).toEqual([]);
  });

  it('ignores non-bcrypt lines with a log naming user and line, never the hash', async () => {
    const alice = await bcrypt.hash('alice-pw', 4);
    const md5 = '$apr1$H023l8Fa$fSY8ZY.QoToAChxH1i2r5.';
    const sha = '{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI=';
    const crypt = 'rq7e6Yq2YNgWo';
    const plain = 'plain-Secret-1';
    await writeFile(
      file,
      [
        `alice:${alice}`,
        `bob:${md5}`,
        '# comment',
        `carol:${sha}`,
        `dave:${crypt}`,
        `erin:${plain}`,
        'a-line-without-colon-Secret',
        `alice:${await bcrypt.hash('other', 4)}`,
        '',
      ].join('\n'),
    );
    const h = new Htpasswd(file, log);
    expect(await h.users()).toEqual(['alice']);
    expect(await h.verify('bob', 'x')).toBe(false);
    expect(await h.verify('erin', plain)).toBe(false);
    expect(await h.verify('alice', 'alice-pw')).toBe(true);
    expect(await h.verify('alice', 'other')).toBe(false);

    expect(logs).toHaveLength(6);
    expect(logs[0]).toMatch(/line 2\b.*"bob".*MD5/);
    expect(logs[1]).toMatch(/line 4\b.*"carol"/);
    expect(logs[2]).toMatch(/line 5\b.*"dave"/);
    expect(logs[3]).toMatch(/line 6\b.*"erin"/);
    expect(logs[4]).toMatch(/line 7\b/);
    expect(logs[5]).toMatch(/line 8\b.*duplicate.*"alice"/);
    const all = logs.join('\n');
    for (const secret of [md5, 'fSY8ZY', sha, 'EfatjsUq', crypt, plain, 'Secret', alice]) {
      expect(all).not.toContain(secret);
    }
  });

  it('re-reads the file after an edit, checking at most once per interval', async () => {
    // Same cost and password length: the rewritten file has the same size.
    await writeFile(file, `alice:${await bcrypt.hash('first-pw', 4)}\n`);
    const h = new Htpasswd(file, log, { now });
    expect(await h.verify('alice', 'first-pw')).toBe(true);

    await writeFile(file, `alice:${await bcrypt.hash('other-pw', 4)}\n`);
    clock += 999;
    // Within the interval: the old file still applies.
    expect(await h.verify('alice', 'other-pw')).toBe(false);
    expect(await h.verify('alice', 'first-pw')).toBe(true);
    clock += 1;
    expect(await h.verify('alice', 'other-pw')).toBe(true);
    expect(await h.verify('alice', 'first-pw')).toBe(false);
    expect(logs).toEqual([]);
  });

  it('honours a custom check interval', async () => {
    await writeFile(file, `alice:${await bcrypt.hash('pw', 4)}\n`);
    const h = new Htpasswd(file, log, { checkIntervalMs: 0 });
    expect(await h.users()).toEqual(['alice']);
    await writeFile(file, `alice:${await bcrypt.hash('pw', 4)}\nbob:${await bcrypt.hash('pw', 4)}\n`);
    expect(await h.users()).toEqual(['alice', 'bob']);
  });

  it('lets nobody in while the file is missing or unreadable, logging once per change', async () => {
    const h = new Htpasswd(file, log, { now });
    for (let i = 0; i < 3; i++) {
      expect(await h.verify('alice', 'pw')).toBe(false);
      clock += 5000;
    }
    expect(logs).toHaveLength(1);
    expect(logs[0]).toContain('ENOENT');

    await writeFile(file, `alice:${await bcrypt.hash('pw', 4)}\n`);
    clock += 1000;
    expect(await h.verify('alice', 'pw')).toBe(true);

    // A directory where the file should be: stat works, read fails.
    await rm(file);
    await mkdir(file);
    clock += 1000;
    expect(await h.verify('alice', 'pw')).toBe(false);
    clock += 1000;
    expect(await h.users()).toEqual([]);
    expect(logs).toHaveLength(2);
    expect(logs[1]).toContain('EISDIR');

    await rm(file, { recursive: true });
    clock += 1000;
    expect(await h.verify('alice', 'pw')).toBe(false);
    expect(logs).toHaveLength(3);
  });

  it('shares one check between concurrent requests', async () => {
    await writeFile(file, `alice:${await bcrypt.hash('pw', 4)}\n`);
    const h = new Htpasswd(file, log, { now });
    const results = await Promise.all([h.verify('alice', 'pw'), h.verify('alice', 'no'), h.verify('bob', 'pw')]);
    expect(results).toEqual([true, false, false]);
  });
});

// Real hashes from Debian's htpasswd (apache2-utils).
interopDescribe('htpasswd -B', ['htpasswd'], () => {
  it('verifies $2y$ hashes made by htpasswd -B', async () => {
    for (const cost of ['4', '5']) {
      const { stdout } = await runOk('htpasswd', ['-nbB', '-C', cost, 'alice', 'pa:ss wörd']);
      const hash = stdout.trim().slice('alice:'.length);
      expect(hash.startsWith(`$2y$0${cost}$`)).toBe(true);
      expect(await verifyPassword(hash, 'pa:ss wörd')).toBe(true);
      expect(await verifyPassword(hash, 'pa:ss word')).toBe(false);
    }
  });

  it('picks up edits made with htpasswd without a restart', async () => {
    await runOk('htpasswd', ['-cbB', '-C', '4', file, 'alice', 'first-pw']);
    const h = new Htpasswd(file, log, { now });
    expect(await h.verify('alice', 'first-pw')).toBe(true);

    // Same cost and password length: htpasswd rewrites the file in place at the same size.
    await runOk('htpasswd', ['-bB', '-C', '4', file, 'alice', 'other-pw']);
    await runOk('htpasswd', ['-bB', file, 'bob', 'bob-pw']);
    await runOk('htpasswd', ['-bm', file, 'carol', 'carol-pw']);
    clock += 1000;
    expect(await h.verify('alice', 'first-pw')).toBe(false);
    expect(await h.verify('alice', 'other-pw')).toBe(true);
    expect(await h.verify('bob', 'bob-pw')).toBe(true);
    expect(await h.verify('carol', 'carol-pw')).toBe(false);
    expect(await h.users()).toEqual(['alice', 'bob']);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/line 3\b.*"carol".*MD5/);
    const carol = (await readFile(file, 'utf8')).split('\n')[2] ?? '';
    expect(carol).toMatch(/^carol:\$apr1\$/);
    expect(logs[0]).not.toContain(carol.slice('carol:$apr1$'.length));

    await runOk('htpasswd', ['-D', file, 'bob']);
    clock += 1000;
    expect(await h.verify('bob', 'bob-pw')).toBe(false);
    expect(await h.users()).toEqual(['alice']);
  });
});
