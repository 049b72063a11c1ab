// Access control as skopeo sees it (issue 3, "Must show"): `skopeo copy`
// with --dest-creds/--src-creds and `skopeo inspect --creds` against Wharf in
// token mode (Docker's bearer-token flow) and in htpasswd mode (Basic auth
// against a file written by Debian's `htpasswd -B`), both on plain HTTP on
// 127.0.0.1. Right credentials copy the image in and out unchanged; wrong or
// missing ones are refused.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MultiPlatformLayout, readLayoutImage, writeMultiPlatformLayout } from '../support/oci-layout.js';
import { startWharf, type WharfProcess, wharfAdmin } from '../support/server.js';
import { skopeo, skopeoOk } from '../support/skopeo.js';
import { interopDescribe, removeTmpDir, runOk, tmpDir } from '../support/tools.js';

const TIMEOUT = 120_000;
const PLATFORM = { os: 'linux', architecture: 'amd64' };

interopDescribe('skopeo with credentials against Wharf', ['skopeo', 'htpasswd'], () => {
  let work: string;
  let src: string;
  let layout: MultiPlatformLayout;
  /** Digest of the linux/amd64 image manifest: what skopeo copies out of the one-platform index. */
  let manifestDigest: string;

  beforeAll(async () => {
    work = await tmpDir('wharf-auth-skopeo');
    src = join(work, 'src');
    layout = await writeMultiPlatformLayout(src, 'v1', [PLATFORM]);
    manifestDigest = layout.manifests.get('linux/amd64')!.digest;
  }, TIMEOUT);

  afterAll(async () => {
    if (work) await removeTmpDir(work);
  }, TIMEOUT);

  /** Copies `remote` out into a fresh layout with `flags`, and checks it is the image that went in. */
  async function copyOutAndCompare(remote: string, flags: string[], name: string): Promise<void> {
    const out = join(work, name);
    await skopeoOk(['copy', '--src-tls-verify=false', ...flags, remote, `oci:${out}:v1`]);
    const pulled = await readLayoutImage(out, 'v1');
    expect(pulled.descriptor.digest).toBe(manifestDigest);
    expect(pulled.manifest.layers.map((l) => l.digest)).toEqual(
      layout.images.get('linux/amd64')!.layers.map((l) => l.digest),
    );
  }

  describe('token mode', () => {
    const PASSWORD = 'alice-Secret-1';
    let wharf: WharfProcess;

    beforeAll(async () => {
      wharf = await startWharf({ env: { WHARF_AUTH_MODE: 'token', WHARF_ADMIN_PASSWORD: 'admin-Secret-1' } });
      for (const [name, password] of [
        ['alice', PASSWORD],
        ['bob', 'bob-Secret-1'],
      ] as const) {
        await wharfAdmin(['user', 'add', name, '--password-stdin', '--data', wharf.dataDir], `${password}\n`);
      }
    }, TIMEOUT);

    afterAll(async () => {
      await wharf?.cleanup();
    }, TIMEOUT);

    it(
      'copies in with --dest-creds and out with --src-creds, unchanged',
      async () => {
        const remote = `docker://${wharf.host}/alice/app:v1`;
        const copyIn = await skopeoOk([
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          `alice:${PASSWORD}`,
          `oci:${src}:v1`,
          remote,
        ]);
        expect(copyIn).toContain('Writing manifest to image destination');
        await copyOutAndCompare(remote, ['--src-creds', `alice:${PASSWORD}`], 'token-out');

        const info: unknown = JSON.parse(
          await skopeoOk(['inspect', '--tls-verify=false', '--creds', `alice:${PASSWORD}`, remote]),
        );
        expect(info).toMatchObject({ Name: `${wharf.host}/alice/app`, Digest: manifestDigest });
      },
      TIMEOUT,
    );

    it(
      'refuses a wrong password, and an account pushing outside its namespace',
      async () => {
        const wrong = await skopeo([
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          'alice:wrong-password',
          `oci:${src}:v1`,
          `docker://${wharf.host}/alice/other:v1`,
        ]);
        expect(wrong.code).not.toBe(0);
        expect(wrong.stderr).toContain('unauthorized: incorrect username or password');

        const wrongIn = await skopeo([
          'inspect',
          '--tls-verify=false',
          '--creds',
          'alice:wrong-password',
          `docker://${wharf.host}/alice/app:v1`,
        ]);
        expect(wrongIn.code).not.toBe(0);
        expect(wrongIn.stderr).toContain('unauthorized: incorrect username or password');

        // bob's token carries no push on alice/…: the registry refuses the upload.
        const foreign = await skopeo([
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          'bob:bob-Secret-1',
          `oci:${src}:v1`,
          `docker://${wharf.host}/alice/bobs:v1`,
        ]);
        expect(foreign.code).not.toBe(0);
        expect(foreign.stderr).toMatch(/unauthorized|denied/);
        const tags = await skopeo([
          'list-tags',
          '--tls-verify=false',
          '--creds',
          `alice:${PASSWORD}`,
          `docker://${wharf.host}/alice/bobs`,
        ]);
        expect(tags.code).not.toBe(0);
        expect(tags.stderr).toContain('404 (Not Found)');
      },
      TIMEOUT,
    );

    it(
      'a public repository copies out without credentials; once private, only with them',
      async () => {
        const remote = `docker://${wharf.host}/alice/app:v1`;
        await copyOutAndCompare(remote, [], 'anon-out');

        await wharfAdmin(['repo', 'visibility', 'alice/app', 'private', '--data', wharf.dataDir]);

        const anon = await skopeo(['copy', '--src-tls-verify=false', remote, `oci:${join(work, 'anon-denied')}:v1`]);
        expect(anon.code).not.toBe(0);
        expect(anon.stderr).toMatch(/unauthorized|denied/);
        const bob = await skopeo(['inspect', '--tls-verify=false', '--creds', 'bob:bob-Secret-1', remote]);
        expect(bob.code).not.toBe(0);
        await copyOutAndCompare(remote, ['--src-creds', `alice:${PASSWORD}`], 'private-out');
      },
      TIMEOUT,
    );
  });

  describe('htpasswd mode with a file from htpasswd -B', () => {
    let wharf: WharfProcess;
    let htpasswdFile: string;

    beforeAll(async () => {
      htpasswdFile = join(work, 'htpasswd');
      await runOk('htpasswd', ['-B', '-b', '-c', htpasswdFile, 'carol', 'carol-Secret-1']);
      // Really bcrypt ($2y$, as Apache writes it).
      expect(await readFile(htpasswdFile, 'utf8')).toMatch(/^carol:\$2y\$\d\d\$[./A-Za-z0-9]{53}\n$/);
      wharf = await startWharf({
        env: { WHARF_AUTH_MODE: 'htpasswd', WHARF_AUTH_HTPASSWD_FILE: htpasswdFile },
      });
    }, TIMEOUT);

    afterAll(async () => {
      await wharf?.cleanup();
    }, TIMEOUT);

    it(
      'copies in and out with the right credentials',
      async () => {
        const remote = `docker://${wharf.host}/team/app:v1`;
        const copyIn = await skopeoOk([
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          'carol:carol-Secret-1',
          `oci:${src}:v1`,
          remote,
        ]);
        expect(copyIn).toContain('Writing manifest to image destination');
        await copyOutAndCompare(remote, ['--src-creds', 'carol:carol-Secret-1'], 'htpasswd-out');
        const info: unknown = JSON.parse(
          await skopeoOk(['inspect', '--tls-verify=false', '--creds', 'carol:carol-Secret-1', remote]),
        );
        expect(info).toMatchObject({ Digest: manifestDigest });
      },
      TIMEOUT,
    );

    it(
      'refuses wrong and missing credentials',
      async () => {
        const remote = `docker://${wharf.host}/team/app:v1`;
        const wrongIn = await skopeo([
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          'carol:wrong-password',
          `oci:${src}:v1`,
          `docker://${wharf.host}/team/other:v1`,
        ]);
        expect(wrongIn.code).not.toBe(0);
        expect(wrongIn.stderr).toContain('unauthorized');

        const wrongOut = await skopeo(['inspect', '--tls-verify=false', '--creds', 'carol:wrong-password', remote]);
        expect(wrongOut.code).not.toBe(0);
        expect(wrongOut.stderr).toContain('unauthorized');

        const none = await skopeo(['inspect', '--tls-verify=false', remote]);
        expect(none.code).not.toBe(0);
        expect(none.stderr).toContain('unauthorized');
        // No credentials is not a failed login.
        expect(none.stderr).not.toContain('incorrect username or password');
      },
      TIMEOUT,
    );

    it(
      'anonymous skopeo runs are challenged, not counted as failed logins that lock the address out',
      async () => {
        // Without credentials skopeo answers a Basic challenge with empty ones (`Basic Og==`).
        // More of those than auth.max_login_failures (10) must not throttle 127.0.0.1.
        const remote = `docker://${wharf.host}/team/app:v1`;
        const runs = await Promise.all(
          Array.from({ length: 12 }, () => skopeo(['inspect', '--tls-verify=false', remote])),
        );
        for (const r of runs) {
          expect(r.code).not.toBe(0);
          expect(r.stderr).toContain('unauthorized');
          expect(r.stderr).not.toContain('incorrect username or password');
        }
        const info: unknown = JSON.parse(
          await skopeoOk(['inspect', '--tls-verify=false', '--creds', 'carol:carol-Secret-1', remote]),
        );
        expect(info).toMatchObject({ Digest: manifestDigest });
      },
      TIMEOUT,
    );
  });
});
