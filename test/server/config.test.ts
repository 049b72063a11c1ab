import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, envName, loadConfig } from '../../src/server/config.js';
import { removeTmpDir, tmpDir } from '../support/tools.js';

describe('configuration', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tmpDir('wharf-config-');
  });
  afterAll(() => removeTmpDir(dir));

  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('needs no file: registry on 127.0.0.1:5000 storing in ./data', () => {
    const c = loadConfig({ env: {} });
    expect(c.http.addr).toBe('127.0.0.1:5000');
    expect(c.storage.root).toBe(join(process.cwd(), 'data'));
    expect(c.storage.delete_enabled).toBe(true);
    expect(c.storage.upload_purge_age).toBe(168 * 3600 * 1000);
    expect(c.limits.max_manifest_size).toBe(4 * 1024 * 1024);
    expect(c.limits.catalog_max_entries).toBe(1000);
    expect(c.log.level).toBe('info');
  });

  it('reads a YAML file, with durations and sizes in units', () => {
    const path = file(
      'ok.yaml',
      'http:\n  addr: 0.0.0.0:6000\nstorage:\n  root: /srv/wharf\n  upload_purge_age: 30m\nlimits:\n  max_manifest_size: 512KiB\nlog:\n  format: text\n',
    );
    const c = loadConfig({ file: path, env: {} });
    expect(c.http.addr).toBe('0.0.0.0:6000');
    expect(c.storage.root).toBe('/srv/wharf');
    expect(c.storage.upload_purge_age).toBe(30 * 60 * 1000);
    expect(c.limits.max_manifest_size).toBe(512 * 1024);
    expect(c.log.format).toBe('text');
  });

  it('every key can be overridden by a WHARF_ variable, and flags win over both', () => {
    const path = file('env.yaml', 'storage:\n  delete_enabled: true\nlimits:\n  tags_max_entries: 10\n');
    const c = loadConfig({
      file: path,
      env: {
        WHARF_STORAGE_DELETE_ENABLED: 'false',
        WHARF_LIMITS_TAGS_MAX_ENTRIES: '50',
        WHARF_HTTP_ADDR: '127.0.0.1:7000',
      },
      overrides: [[['http', 'addr'], '127.0.0.1:8000']],
    });
    expect(c.storage.delete_enabled).toBe(false);
    expect(c.limits.tags_max_entries).toBe(50);
    expect(c.http.addr).toBe('127.0.0.1:8000');
    expect(envName(['storage', 'upload_purge_age'])).toBe('WHARF_STORAGE_UPLOAD_PURGE_AGE');
  });

  it('WHARF_CONFIG names the file', () => {
    const path = file('named.yaml', 'log:\n  level: debug\n');
    expect(loadConfig({ env: { WHARF_CONFIG: path } }).log.level).toBe('debug');
  });

  it('an unknown key is an error naming the key', () => {
    const path = file('typo.yaml', 'storage:\n  delete_enable: true\n');
    expect(() => loadConfig({ file: path, env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ file: path, env: {} })).toThrow(/delete_enable/);
  });

  it('a wrong value is an error naming the key and the problem', () => {
    expect(() => loadConfig({ env: { WHARF_STORAGE_UPLOAD_PURGE_AGE: 'soon' } })).toThrow(
      /invalid duration[\s\S]*storage\.upload_purge_age/,
    );
    expect(() => loadConfig({ env: { WHARF_HTTP_ADDR: 'localhost' } })).toThrow(/HOST:PORT[\s\S]*http\.addr/);
    expect(() => loadConfig({ env: { WHARF_LOG_LEVEL: 'loud' } })).toThrow(/log\.level/);
    expect(() => loadConfig({ file: file('bad.yaml', 'http: [1, 2\n'), env: {} })).toThrow(/not valid YAML/);
    expect(() => loadConfig({ file: join(dir, 'missing.yaml'), env: {} })).toThrow(/cannot read config file/);
  });
});

describe('configuration from the environment', () => {
  it('takes values that are not YAML scalars as strings (IPv6 addresses)', () => {
    expect(loadConfig({ env: { WHARF_HTTP_ADDR: '[::1]:5000' } }).http.addr).toBe('[::1]:5000');
  });
});
