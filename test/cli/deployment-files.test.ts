// The deployment files hold what Wharf reads: the Dockerfile's environment is a valid
// configuration with the image's settings, and the systemd unit in docs/deployment-container.md
// passes systemd's own check.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/server/config.js';
import { REPO_ROOT } from '../support/container-image.js';
import { interopDescribe, removeTmpDir, run, tmpDir } from '../support/tools.js';

/** The `ENV` of the Dockerfile's runtime stage (`ENV A=1 \ B=2` lines). */
async function dockerfileEnv(): Promise<Record<string, string>> {
  const text = (await readFile(join(REPO_ROOT, 'Dockerfile'), 'utf8')).replace(/\\\n\s*/g, ' ');
  const line = text.split('\n').find((l) => l.startsWith('ENV ')) ?? '';
  return Object.fromEntries(
    line
      .slice(4)
      .trim()
      .split(/\s+/)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

describe('the Dockerfile', () => {
  it("sets a valid configuration through the environment: 0.0.0.0:5000, /var/lib/wharf, registry:2's anonymous access", async () => {
    const env = await dockerfileEnv();
    const config = loadConfig({ env });
    expect(config.http.addr).toBe('0.0.0.0:5000');
    expect(config.storage.root).toBe('/var/lib/wharf');
    expect(config.auth.mode).toBe('none');
    expect(config.auth.allow_none_on_network).toBe(true);
    const text = await readFile(join(REPO_ROOT, 'Dockerfile'), 'utf8');
    expect(text).toMatch(/^VOLUME \/var\/lib\/wharf$/m);
    expect(text).toMatch(/^EXPOSE 5000$/m);
    expect(text).toMatch(/^USER wharf$/m);
  });
});

interopDescribe('the systemd unit of docs/deployment-container.md', ['systemd-analyze'], () => {
  let dir = '';
  beforeAll(async () => {
    dir = await tmpDir('wharf-unit');
  });
  afterAll(async () => {
    await removeTmpDir(dir);
  });

  it('passes systemd-analyze verify without warnings, and runs the package bin with serve', async () => {
    const doc = await readFile(join(REPO_ROOT, 'docs', 'deployment-container.md'), 'utf8');
    const unit = /```ini\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/node \/opt\/wharf\/dist\/bundle\/cli\/main\.js serve$/m);
    const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { bin: { wharf: string } };
    expect(unit).toContain(`/opt/wharf/${pkg.bin.wharf} serve`);
    const file = join(dir, 'wharf.service');
    await writeFile(file, unit);
    const r = await run('systemd-analyze', ['verify', file], { timeoutMs: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
