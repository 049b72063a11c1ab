import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { buildServer, type WharfServer } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { removeTmpDir, tmpDir } from '../support/tools.js';

/** Upload sessions on the filesystem driver: they outlive the server, and abandoned ones are purged. */
describe('upload sessions across restarts', () => {
  const dirs: string[] = [];
  let server: WharfServer | undefined;

  afterEach(async () => {
    await server?.close();
    server = undefined;
    for (const d of dirs.splice(0)) await removeTmpDir(d);
  });

  const open = async (dir: string, env: NodeJS.ProcessEnv = {}) => {
    server = await buildServer(
      loadConfig({ env: { WHARF_STORAGE_ROOT: dir, WHARF_LOG_LEVEL: 'silent', WHARF_AUTH_MODE: 'none', ...env } }),
    );
    return server;
  };

  it('a session started before a restart is resumed and finished after it', async () => {
    const dir = await tmpDir('wharf-sessions-');
    dirs.push(dir);
    let s = await open(dir);
    const start = await s.app.inject({ method: 'POST', url: '/v2/resume/me/blobs/uploads/' });
    const location = start.headers.location as string;
    await s.app.inject({ method: 'PATCH', url: location, headers: { 'content-range': '0-5' }, payload: 'first ' });
    await s.close();

    s = await open(dir);
    const status = await s.app.inject({ method: 'GET', url: location });
    expect(status.statusCode).toBe(204);
    expect(status.headers.range).toBe('0-5');
    // The hash state was lost with the process: it is rebuilt from the stored bytes.
    await s.app.inject({ method: 'PATCH', url: location, headers: { 'content-range': '6-11' }, payload: 'second' });
    const digest = digestOf('first second');
    const done = await s.app.inject({ method: 'PUT', url: `${location}?digest=${digest}` });
    expect(done.statusCode).toBe(201);
    expect((await s.app.inject({ method: 'GET', url: `/v2/resume/me/blobs/${digest}` })).body).toBe('first second');
  });

  it('sessions older than storage.upload_purge_age are purged with their bytes', async () => {
    const dir = await tmpDir('wharf-purge-');
    dirs.push(dir);
    let s = await open(dir);
    const start = await s.app.inject({ method: 'POST', url: '/v2/purge/me/blobs/uploads/' });
    const location = start.headers.location as string;
    const id = location.split('/').pop() as string;
    await s.app.inject({ method: 'PATCH', url: location, payload: 'abandoned bytes' });
    expect(existsSync(join(dir, 'uploads', id, 'data'))).toBe(true);
    await s.close();

    await new Promise((r) => setTimeout(r, 20));
    s = await open(dir, { WHARF_STORAGE_UPLOAD_PURGE_AGE: '10ms' });
    expect((await s.app.inject({ method: 'GET', url: location })).statusCode).toBe(404);
    expect(existsSync(join(dir, 'uploads', id))).toBe(false);
  });

  it('recent sessions are kept by the purge', async () => {
    const dir = await tmpDir('wharf-keep-');
    dirs.push(dir);
    let s = await open(dir);
    const start = await s.app.inject({ method: 'POST', url: '/v2/keep/me/blobs/uploads/' });
    await s.close();
    s = await open(dir, { WHARF_STORAGE_UPLOAD_PURGE_AGE: '1h' });
    expect((await s.app.inject({ method: 'GET', url: start.headers.location as string })).statusCode).toBe(204);
  });

  it('metadata lives in the data directory and survives a restart', async () => {
    const dir = await tmpDir('wharf-persist-');
    dirs.push(dir);
    let s = await open(dir);
    const digest = digestOf('kept');
    await s.app.inject({ method: 'POST', url: `/v2/persist/blobs/uploads/?digest=${digest}`, payload: 'kept' });
    await s.close();
    expect(existsSync(join(dir, 'wharf.db'))).toBe(true);
    s = await open(dir);
    expect((await s.app.inject({ method: 'GET', url: `/v2/persist/blobs/${digest}` })).body).toBe('kept');
    expect((await s.app.inject({ method: 'GET', url: '/v2/_catalog' })).json()).toEqual({ repositories: ['persist'] });
  });
});
