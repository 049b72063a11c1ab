// Configuration that refuses mistakes: unknown WHARF_ variables and keys with a suggestion,
// friendly errors for bad ports, ports in use and unusable data directories, `wharf config
// check`, and docs/configuration.md listing every key of the schema.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closest, configKeys, loadConfig, OTHER_WHARF_VARIABLES } from '../../src/server/config.js';
import { WHARF_BIN } from '../support/server.js';
import { removeTmpDir, run, runOk, tmpDir } from '../support/tools.js';

const REPO_ROOT = join(import.meta.dirname, '..', '..');

/** process.env without WHARF_ variables (CI sets some), plus `extra`. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WHARF_')));
  return { ...env, ...extra };
}

describe('configuration mistakes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tmpDir('wharf-config-check-');
  });
  afterAll(() => removeTmpDir(dir));

  it('a mistyped WHARF_ variable stops wharf serve with the key it meant, and changes nothing', async () => {
    const data = join(dir, 'typo-data');
    const r = await run(process.execPath, [WHARF_BIN, 'serve', '--addr', '127.0.0.1:0', '--data', data], {
      env: cleanEnv({ WHARF_STORAGE_DELET_ENABLED: 'false' }),
      timeoutMs: 60_000,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'unknown variable WHARF_STORAGE_DELET_ENABLED (did you mean WHARF_STORAGE_DELETE_ENABLED?)',
    );
    expect(existsSync(data)).toBe(false);
  });

  it('a mistyped key in the file is refused with the nearest key', () => {
    const file = join(dir, 'typo.yaml');
    writeFileSync(file, 'storage:\n  delete_enable: false\nweebhooks:\n  timeout: 5s\n');
    expect(() => loadConfig({ file, env: {} })).toThrow(
      /unknown key storage\.delete_enable in .*\(did you mean storage\.delete_enabled\?\)/,
    );
    expect(() => loadConfig({ file, env: {} })).toThrow(/unknown key weebhooks in .*\(did you mean webhooks\?\)/);
  });

  it('WHARF_ variables that are not keys (image tool, tests, the admin password) are accepted', () => {
    const env = Object.fromEntries(Object.keys(OTHER_WHARF_VARIABLES).map((name) => [name, 'x']));
    delete env.WHARF_CONFIG;
    expect(() => loadConfig({ env })).not.toThrow();
    // and nothing far from any key gets a made-up suggestion
    expect(
      closest(
        'WHARF_SOMETHING_ELSE_ENTIRELY',
        configKeys().map((k) => k.variable),
      ),
    ).toBeUndefined();
  });

  it('a port out of range is a sentence naming the flag, not a Node stack', async () => {
    const r = await run(process.execPath, [WHARF_BIN, 'serve', '--addr', '127.0.0.1:99999'], {
      env: cleanEnv(),
      timeoutMs: 60_000,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the port must be between 0 and 65535');
    expect(r.stderr).toContain('at http.addr (flag --addr)');
    expect(r.stderr).not.toContain('options.port');
  });

  it('a port in use and an unusable data directory are explained', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const r = await run(
        process.execPath,
        [WHARF_BIN, 'serve', '--addr', `127.0.0.1:${port}`, '--data', join(dir, 'inuse')],
        { env: cleanEnv({ WHARF_LOG_LEVEL: 'silent' }), timeoutMs: 60_000 },
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`cannot listen on 127.0.0.1:${port}: the address is already in use`);
    } finally {
      taken.close();
    }
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, '');
    const r = await run(process.execPath, [WHARF_BIN, 'serve', '--data', join(blocker, 'data')], {
      env: cleanEnv(),
      timeoutMs: 60_000,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot use the data directory ${join(blocker, 'data')}: a file is in the way`);
  });
});

describe('wharf config check', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tmpDir('wharf-config-check-');
  });
  afterAll(() => removeTmpDir(dir));

  it('prints every key with its value and source (default, file, variable, flag), secrets masked', async () => {
    const file = join(dir, 'wharf.yaml');
    writeFileSync(
      file,
      [
        'storage:',
        '  root: /srv/wharf',
        '  upload_purge_age: 30m',
        'notifications:',
        '  endpoints:',
        '    - name: audit',
        '      url: http://127.0.0.1:9/events',
        '      headers: { Authorization: Bearer very-secret-value }',
        '',
      ].join('\n'),
    );
    const { stdout } = await runOk(
      process.execPath,
      [WHARF_BIN, 'config', 'check', '--config', file, '--addr', '127.0.0.1:7000'],
      { env: cleanEnv({ WHARF_LOG_LEVEL: 'debug', WHARF_API_RATE_LIMIT: '100' }) },
    );
    const line = (key: string) => stdout.split('\n').find((l) => l.startsWith(`${key}: `)) ?? '';
    const parts = (key: string) => {
      const m = /^[^:]+: (.*?)\s+# (.*)$/.exec(line(key));
      return m ? [m[1], m[2]] : [line(key)];
    };
    expect(stdout.split('\n')[0]).toBe(`# configuration is valid (file ${file})`);
    expect(parts('http.addr')).toEqual(['127.0.0.1:7000', 'flag --addr']);
    expect(parts('storage.root')).toEqual(['/srv/wharf', `file ${file}`]);
    expect(parts('storage.upload_purge_age')).toEqual(['30m', `file ${file}`]);
    expect(parts('storage.upload_purge_interval')).toEqual(['1h', 'default']);
    expect(parts('log.level')).toEqual(['debug', 'variable WHARF_LOG_LEVEL']);
    expect(parts('api.rate_limit')).toEqual(['100', 'variable WHARF_API_RATE_LIMIT']);
    expect(parts('limits.max_manifest_size')).toEqual(['4MiB', 'default']);
    expect(line('notifications.endpoints')).toContain('Authorization: "********"');
    expect(stdout).not.toContain('very-secret-value');
    // one line per key of the schema, after the heading
    expect(stdout.trim().split('\n').length).toBe(configKeys().length + 1);
  });

  it('fails on an invalid configuration with the same message as wharf serve', async () => {
    const r = await run(process.execPath, [WHARF_BIN, 'config', 'check'], {
      env: cleanEnv({ WHARF_LOG_LEVL: 'debug' }),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown variable WHARF_LOG_LEVL (did you mean WHARF_LOG_LEVEL?)');
  });
});

describe('the configuration documents', () => {
  const docs = readFileSync(join(REPO_ROOT, 'docs', 'configuration.md'), 'utf8');

  it('docs/configuration.md has a row for every key of the schema, with its variable', () => {
    const rows = new Map(
      docs
        .split('\n')
        .filter((l) => l.startsWith('| `'))
        .map((l) => [/^\| `([^`]+)`/.exec(l)?.[1] ?? '', l] as const),
    );
    const missing = configKeys().filter(({ key, variable }) => !rows.get(key)?.includes(`\`${variable}\``));
    expect(missing.map((k) => k.key)).toEqual([]);
  });

  it('docs/configuration.md lists the WHARF_ variables that are not keys', () => {
    const missing = Object.keys(OTHER_WHARF_VARIABLES).filter((name) => !docs.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });

  it("the README's example file is a valid configuration", async () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(yaml).toBeDefined();
    const dir = await tmpDir('wharf-readme-');
    try {
      const file = join(dir, 'readme.yaml');
      writeFileSync(file, yaml ?? '');
      expect(() => loadConfig({ file, env: {} })).not.toThrow();
    } finally {
      await removeTmpDir(dir);
    }
  });
});
