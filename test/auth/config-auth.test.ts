// Configuration of access control: `none` only on loopback unless forced, htpasswd needs its
// file, TLS needs both certificate and key.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildServer } from '../../src/server/app.js';
import { ConfigError, loadConfig } from '../../src/server/config.js';
import { WHARF_BIN } from '../support/server.js';
import { freePort, removeTmpDir, run, tmpDir } from '../support/tools.js';

describe('auth.mode none on the network', () => {
  for (const addr of ['0.0.0.0:5000', '[::]:5000', '192.168.1.10:5000', 'registry.example.com:5000']) {
    it(`is refused on ${addr}, naming the problem and the way out`, () => {
      let error: unknown;
      try {
        // As `wharf serve --addr` passes it (an IPv6 "[…]" in WHARF_HTTP_ADDR is read as YAML).
        loadConfig({ env: { WHARF_AUTH_MODE: 'none' }, overrides: [[['http', 'addr'], addr]] });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as ConfigError).message;
      expect(message).toContain('auth.mode none');
      expect(message).toContain(addr);
      expect(message).toContain('loopback');
      expect(message).toContain('allow_none_on_network');
    });
  }

  it('is refused from a config file too', async () => {
    const dir = await tmpDir('wharf-config-auth');
    try {
      const file = join(dir, 'wharf.yaml');
      await writeFile(file, 'http:\n  addr: 0.0.0.0:5000\nauth:\n  mode: none\n');
      expect(() => loadConfig({ file, env: {} })).toThrow(ConfigError);
      expect(() => loadConfig({ file, env: {} })).toThrow(/auth\.mode none/);
    } finally {
      await removeTmpDir(dir);
    }
  });

  it('is allowed with WHARF_AUTH_ALLOW_NONE_ON_NETWORK=true', () => {
    const config = loadConfig({
      env: { WHARF_AUTH_MODE: 'none', WHARF_HTTP_ADDR: '0.0.0.0:5000', WHARF_AUTH_ALLOW_NONE_ON_NETWORK: 'true' },
    });
    expect(config.auth.mode).toBe('none');
    expect(config.auth.allow_none_on_network).toBe(true);
    expect(config.http.addr).toBe('0.0.0.0:5000');
  });

  for (const addr of ['127.0.0.1:5000', '127.0.0.2:5000', 'localhost:5000', '[::1]:5000']) {
    it(`is allowed on loopback ${addr}`, () => {
      const config = loadConfig({ env: { WHARF_AUTH_MODE: 'none' }, overrides: [[['http', 'addr'], addr]] });
      expect(config.auth.mode).toBe('none');
    });
  }

  it('token and htpasswd modes may listen anywhere; token is the default', () => {
    expect(loadConfig({ env: { WHARF_HTTP_ADDR: '0.0.0.0:5000' } }).auth.mode).toBe('token');
    expect(loadConfig({ env: { WHARF_HTTP_ADDR: '0.0.0.0:5000', WHARF_AUTH_MODE: 'htpasswd' } }).auth.mode).toBe(
      'htpasswd',
    );
  });

  it('wharf serve refuses to start, with the message on stderr', async () => {
    const dir = await tmpDir('wharf-config-auth');
    try {
      const port = await freePort();
      const result = await run(process.execPath, [WHARF_BIN, 'serve', '--addr', `0.0.0.0:${port}`, '--data', dir], {
        env: { ...process.env, WHARF_AUTH_MODE: 'none', WHARF_AUTH_ALLOW_NONE_ON_NETWORK: 'false' },
        timeoutMs: 20_000,
      });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('auth.mode none');
      expect(result.stderr).toContain(`0.0.0.0:${port}`);
    } finally {
      await removeTmpDir(dir);
    }
  });
});

describe('auth and TLS settings checked at start', () => {
  const memory = { WHARF_STORAGE_DRIVER: 'memory', WHARF_LOG_LEVEL: 'silent' };

  it('htpasswd mode without a file is an error at buildServer', async () => {
    const config = loadConfig({ env: { ...memory, WHARF_AUTH_MODE: 'htpasswd' } });
    await expect(buildServer(config)).rejects.toThrow(ConfigError);
    await expect(buildServer(config)).rejects.toThrow(/htpasswd_file/);
  });

  it('tls.cert without tls.key (or the reverse) is an error', async () => {
    for (const env of [{ WHARF_TLS_CERT: '/nonexistent/cert.pem' }, { WHARF_TLS_KEY: '/nonexistent/key.pem' }]) {
      const config = loadConfig({ env: { ...memory, WHARF_AUTH_MODE: 'none', ...env } });
      await expect(buildServer(config)).rejects.toThrow(ConfigError);
      await expect(buildServer(config)).rejects.toThrow(/tls\.cert and tls\.key/);
    }
  });

  it('an unreadable TLS file is an error naming it', async () => {
    const config = loadConfig({
      env: {
        ...memory,
        WHARF_AUTH_MODE: 'none',
        WHARF_TLS_CERT: '/nonexistent/cert.pem',
        WHARF_TLS_KEY: '/nonexistent/key.pem',
      },
    });
    await expect(buildServer(config)).rejects.toThrow(/\/nonexistent\/cert\.pem/);
  });

  it('an unknown auth mode is a configuration error naming the key', () => {
    expect(() => loadConfig({ env: { WHARF_AUTH_MODE: 'ldap' } })).toThrow(/auth\.mode|mode/);
  });
});
