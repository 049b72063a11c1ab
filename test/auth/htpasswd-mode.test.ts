// auth.mode htpasswd: Basic auth against a file written by Debian's `htpasswd -B`
// (apache2-utils), reloaded when it changes.
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import type { WharfServer } from '../../src/server/app.js';
import { memoryServer } from '../support/server.js';
import { interopDescribe, removeTmpDir, runOk, sleep, tmpDir } from '../support/tools.js';

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

interopDescribe('auth.mode htpasswd with a file from htpasswd -B', ['htpasswd'], () => {
  let dir: string;
  let file: string;
  let server: WharfServer;

  beforeEach(async () => {
    dir = await tmpDir('wharf-htpasswd-mode');
    file = join(dir, 'htpasswd');
    // -c create, -B bcrypt, -b password on the command line (test only).
    await runOk('htpasswd', ['-c', '-B', '-b', file, 'alice', 'alice-pw-1']);
    server = await memoryServer({
      WHARF_AUTH_MODE: 'htpasswd',
      WHARF_AUTH_HTPASSWD_FILE: file,
      WHARF_AUTH_MAX_LOGIN_FAILURES: '20',
    });
  });

  afterEach(async () => {
    await server.close();
    await removeTmpDir(dir);
  });

  const get = (url: string, authorization?: string): Promise<LightMyRequestResponse> =>
    server.app.inject({ method: 'GET', url, headers: authorization ? { authorization } : {} });

  const expectChallenge = (res: LightMyRequestResponse) => {
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Basic realm="[^"]+"$/);
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
    const body = res.json<{ errors: { code: string }[] }>();
    expect(body.errors[0]?.code).toBe('UNAUTHORIZED');
  };

  it('challenges with Basic when no credentials are given', async () => {
    expectChallenge(await get('/v2/'));
    expectChallenge(await get('/v2/alice/app/tags/list'));
    expectChallenge(await get('/v2/_catalog'));
  });

  it('lets the right credentials in and refuses wrong ones', async () => {
    const ok = await get('/v2/', basic('alice', 'alice-pw-1'));
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({});

    expectChallenge(await get('/v2/', basic('alice', 'wrong')));
    expectChallenge(await get('/v2/', basic('Alice', 'alice-pw-1')));
    expectChallenge(await get('/v2/', basic('nobody', 'alice-pw-1')));
    // A Bearer token means nothing in this mode.
    expectChallenge(await get('/v2/', 'Bearer abc.def.ghi'));
  });

  it('a valid user may push and pull (as in Distribution)', async () => {
    const blob = Buffer.from('htpasswd layer');
    const auth = basic('alice', 'alice-pw-1');
    const push = await server.app.inject({
      method: 'POST',
      url: `/v2/some/repo/blobs/uploads/?digest=${digestOf(blob)}`,
      headers: { authorization: auth, 'content-type': 'application/octet-stream' },
      payload: blob,
    });
    expect(push.statusCode, push.body).toBe(201);
    const pull = await get(`/v2/some/repo/blobs/${digestOf(blob)}`, auth);
    expect(pull.statusCode).toBe(200);
    expect(pull.body).toBe('htpasswd layer');
    expectChallenge(await get(`/v2/some/repo/blobs/${digestOf(blob)}`));
  });

  it('picks up users added and passwords changed with htpasswd -B, without a restart', async () => {
    expectChallenge(await get('/v2/', basic('bob', 'bob-pw-2')));
    await runOk('htpasswd', ['-B', '-b', file, 'bob', 'bob-pw-2']);
    await runOk('htpasswd', ['-B', '-b', file, 'alice', 'alice-pw-new']);
    // The file is checked at most once a second.
    await sleep(1100);
    expect((await get('/v2/', basic('bob', 'bob-pw-2'))).statusCode).toBe(200);
    expect((await get('/v2/', basic('alice', 'alice-pw-new'))).statusCode).toBe(200);
    expectChallenge(await get('/v2/', basic('alice', 'alice-pw-1')));

    await runOk('htpasswd', ['-D', file, 'bob']);
    await sleep(1100);
    expectChallenge(await get('/v2/', basic('bob', 'bob-pw-2')));
  });
});
