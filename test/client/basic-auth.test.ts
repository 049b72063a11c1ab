// The registry client against Wharf in htpasswd mode: a Basic challenge, answered with the
// username and password on every request (no token server involved).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/client/client.js';
import { RegistryClientError } from '../../src/client/errors.js';
import { startWharf, type WharfProcess } from '../support/server.js';
import { removeTmpDir, tmpDir } from '../support/tools.js';
import { HashSink, pushImage, type TestProxy, testProxy } from './helpers.js';

describe('registry client against Wharf (auth htpasswd)', () => {
  let dir: string;
  let wharf: WharfProcess;
  let proxy: TestProxy;
  const clients: RegistryClient[] = [];
  const newClient = (opts: ConstructorParameters<typeof RegistryClient>[0]) => {
    const c = new RegistryClient(opts);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    dir = await tmpDir('wharf-client-basic');
    const file = join(dir, 'htpasswd');
    // What `htpasswd -B` writes: bcrypt with the $2y$ prefix.
    await writeFile(file, `alice:${bcrypt.hashSync('alice-pw-1', 5).replace(/^\$2b\$/, '$2y$')}\n`);
    wharf = await startWharf({ env: { WHARF_AUTH_MODE: 'htpasswd', WHARF_AUTH_HTPASSWD_FILE: file } });
    proxy = await testProxy(wharf.host);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await proxy?.close();
    await wharf?.cleanup();
    if (dir) await removeTmpDir(dir);
  });

  it('sends Basic credentials once the registry has asked for them', async () => {
    const client = newClient({ host: proxy.host, credentials: { username: 'alice', password: 'alice-pw-1' } });
    const ping = await client.ping();
    expect(ping.status).toBe(401);
    expect(ping.challenges).toEqual([{ scheme: 'basic', realm: 'wharf' }]);
    const image = await pushImage(client, 'alice/app', 'v1');
    const manifest = await client.getManifest('alice/app', 'v1');
    expect(manifest.digest).toBe(image.digest);
    const layer = image.layers[0];
    const sink = new HashSink();
    if (layer) await client.pullBlob('alice/app', layer.digest, layer.size, sink);
    expect(sink.digest()).toBe(layer?.digest);
    expect(await client.listTags('alice/app')).toEqual(['v1']);
    expect(proxy.seen.filter((r) => r.path.startsWith('/token'))).toEqual([]);
    expect((await client.login()).identityToken).toBeUndefined();
  });

  it('wrong password: unauthorized: incorrect username or password', async () => {
    const client = newClient({ host: wharf.host, credentials: { username: 'alice', password: 'nope-nope' } });
    const err = await client.listTags('alice/app').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryClientError);
    expect((err as RegistryClientError).message).toBe('unauthorized: incorrect username or password');
    expect((err as RegistryClientError).status).toBe(401);
    const login = await client.login().catch((e: unknown) => e);
    expect((login as Error).message).toBe(
      `login attempt to http://${wharf.host}/v2/ failed with status: 401 Unauthorized`,
    );
  });

  it('no credentials: unauthorized: authentication required', async () => {
    const client = newClient({ host: wharf.host });
    const err = await client.getManifest('alice/app', 'v1').catch((e: unknown) => e);
    expect((err as RegistryClientError).message).toBe('unauthorized: authentication required');
  });
});
