// The `wharf` bin as shipped: the esbuild bundle (scripts/bundle.mjs, built by `npm run build`),
// run from this checkout and from an `npm pack`ed package installed in a temporary directory.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, removeTmpDir, runOk, sleep, tmpDir } from '../support/tools.js';

const REPO_ROOT = join(import.meta.dirname, '..', '..');
const BUNDLE_BIN = join(REPO_ROOT, 'dist', 'bundle', 'cli', 'main.js');

/** `wharf serve` from `bin` (the hub: token mode) answers the registry API, the web UI's page and its stylesheet. */
async function serveAndProbe(bin: string, dir: string): Promise<{ v2: number; ui: number; css: number }> {
  const port = await freePort();
  const child = spawn(process.execPath, [bin, 'serve', '--addr', `127.0.0.1:${port}`, '--data', join(dir, 'data')], {
    cwd: dir,
    env: { ...process.env, WHARF_AUTH_MODE: 'token', WHARF_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const status = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).status;
  try {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`wharf serve exited (${child.exitCode}): ${stderr}`);
      try {
        if ((await status('/healthz')) === 200) break;
      } catch {
        // not listening yet
      }
      if (i > 150) throw new Error(`wharf serve did not start: ${stderr}`);
      await sleep(200);
    }
    return { v2: await status('/v2/'), ui: await status('/'), css: await status('/static/wharf.css') };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('close', resolve));
  }
}

/** What `wharf --version` and `wharf images` (on an empty store) print from `bin`. */
async function listing(bin: string, dir: string): Promise<{ version: string; images: string }> {
  const env = { ...process.env, WHARF_ROOT: join(dir, 'store') };
  const version = (await runOk(process.execPath, [bin, '--version'], { env, cwd: dir })).stdout.trim();
  const images = (await runOk(process.execPath, [bin, 'images'], { env, cwd: dir })).stdout;
  return { version, images };
}

describe('the bundled bin', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tmpDir('wharf-bundle-');
  });
  afterAll(async () => {
    await removeTmpDir(dir);
  });

  it('is what package.json ships as bin and npm start runs', async () => {
    const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      scripts: Record<string, string>;
    };
    expect(join(REPO_ROOT, pkg.bin.wharf ?? '')).toBe(BUNDLE_BIN);
    expect(pkg.scripts.start).toBe('node dist/bundle/cli/main.js serve');
    expect(existsSync(BUNDLE_BIN)).toBe(true);
  });

  it('runs from the checkout: version, a listing, and the server with its web UI', async () => {
    const { version, images } = await listing(BUNDLE_BIN, dir);
    expect(version).toBe('0.1.0');
    expect(images.split('\n')[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(await serveAndProbe(BUNDLE_BIN, dir)).toEqual({ v2: 401, ui: 200, css: 200 });
  });

  it('spawns container monitors with the bundle itself (the path every chunk resolves)', async () => {
    // lifecycle.ts starts `node <new URL('../../cli/main.js', import.meta.url)> container-monitor`:
    // from wherever that code landed in the bundle, the path must be the bundle's own entry.
    const chunksDir = join(REPO_ROOT, 'dist', 'bundle', 'lib', 'chunks');
    const spawning: string[] = [];
    for (const name of await readdir(chunksDir)) {
      const text = await readFile(join(chunksDir, name), 'utf8');
      if (text.includes("'container-monitor'") || text.includes('"container-monitor"')) spawning.push(name);
    }
    expect(spawning.length).toBeGreaterThan(0);
    for (const name of spawning) {
      const target = new URL('../../cli/main.js', pathToFileURL(join(chunksDir, name)));
      expect(target.pathname).toBe(BUNDLE_BIN);
    }
  });

  it('runs from an npm pack-ed package installed in an empty directory', async () => {
    // The package as published (files, bin, only the native addons as dependencies), installed
    // from the tarball with the npm registry for its two dependencies.
    const packDir = join(dir, 'pack');
    const app = join(dir, 'app');
    await mkdir(packDir);
    await mkdir(app);
    await runOk('npm', ['pack', '--ignore-scripts', '--pack-destination', packDir], {
      cwd: REPO_ROOT,
      timeoutMs: 120_000,
    });
    const tarball = join(packDir, 'wharf-0.1.0.tgz');
    expect(existsSync(tarball)).toBe(true);
    await cp(tarball, join(app, 'wharf-0.1.0.tgz'));
    await writeFile(join(app, 'package.json'), '{ "name": "wharf-pack-test", "private": true }\n');
    // --ignore-scripts: better-sqlite3 12 would compile for minutes (no prebuilt binaries can be
    // downloaded here); its addon is the one this checkout compiled for the same Node, copied in below.
    await runOk(
      'npm',
      ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', './wharf-0.1.0.tgz'],
      { cwd: app, timeoutMs: 240_000 },
    );
    const installed = join(app, 'node_modules');
    const deps = (await readdir(installed)).filter((n) => !n.startsWith('.'));
    // The bundle carries fastify, kysely, zod…: they are not installed beside it.
    expect(deps).not.toContain('fastify');
    expect(deps).not.toContain('kysely');
    // better-sqlite3 12 compiles its addon at install (copied from this checkout instead);
    // 13 ships prebuilt Node-API binaries in the package.
    const built = join(REPO_ROOT, 'node_modules', 'better-sqlite3', 'build');
    if (!existsSync(join(installed, 'better-sqlite3', 'prebuilds')) && existsSync(built)) {
      await cp(built, join(installed, 'better-sqlite3', 'build'), { recursive: true });
    }
    const bin = join(installed, '.bin', 'wharf');
    const { version, images } = await listing(bin, app);
    expect(version).toBe('0.1.0');
    expect(images.split('\n')[0]).toMatch(/^REPOSITORY\s+TAG/);
    expect(await serveAndProbe(bin, app)).toEqual({ v2: 401, ui: 200, css: 200 });
  }, 300_000);
});
