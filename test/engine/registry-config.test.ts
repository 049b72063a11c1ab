// Registry settings (daemon.json style): the parser, Docker's insecure-registry rules (CIDRs,
// literal host[:port], names resolving into a CIDR, loopback always, docker.io never), mirror
// validation and endpoint order, credential keys; then a docker.io pull served by a mirror
// (a Wharf server on loopback) end to end, falling through a dead mirror first.
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/client/client.js';
import { convertToHostname, credentialKey, DOCKER_HUB_KEY } from '../../src/engine/credentials.js';
import {
  defaultRegistrySettings,
  inCidrs,
  isInsecureRegistry,
  loadRegistrySettings,
  parseRegistrySettings,
  pullEndpoints,
  pushEndpoint,
  RegistryConfigError,
} from '../../src/engine/registry-config.js';
import { makeLayer, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST } from '../support/oci-layout.js';
import { startWharf, WHARF_BIN, type WharfProcess } from '../support/server.js';
import { freePort, type RunResult, removeTmpDir, run, tmpDir } from '../support/tools.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
/** A resolver that never touches the network. */
const fakeDns = (table: Record<string, string[]>) => async (host: string) => table[host] ?? [];

describe('registry settings', () => {
  it('defaults: loopback insecure (127/8, ::1, localhost), docker.io and other hosts secure', async () => {
    const s = defaultRegistrySettings();
    const dns = fakeDns({ 'registry.example.com': ['203.0.113.5'] });
    expect(await isInsecureRegistry(s, '127.0.0.1:5000', dns)).toBe(true);
    expect(await isInsecureRegistry(s, '127.8.9.10', dns)).toBe(true);
    expect(await isInsecureRegistry(s, '[::1]:5000', dns)).toBe(true);
    expect(await isInsecureRegistry(s, 'localhost:5000', dns)).toBe(true);
    expect(await isInsecureRegistry(s, 'docker.io', dns)).toBe(false);
    expect(await isInsecureRegistry(s, 'registry.example.com:5000', dns)).toBe(false);
    expect(await isInsecureRegistry(s, '10.0.0.1:5000', dns)).toBe(false);
  });

  it('insecure-registries: CIDRs, literal host[:port], names that resolve into a CIDR; schemes stripped with a warning', async () => {
    const warnings: string[] = [];
    const s = parseRegistrySettings(
      {
        'insecure-registries': ['10.0.0.0/8', 'myregistry.local:5000', 'http://other.example:8080', 'fd00::/8'],
        'data-root': '/ignored', // other daemon.json keys are not Wharf's business
      },
      'daemon.json',
      (m) => warnings.push(m),
    );
    expect(warnings).toEqual([
      "insecure registry http://other.example:8080 should not contain 'http://' and 'http://' has been removed from the insecure registry config",
    ]);
    const dns = fakeDns({ 'build.corp': ['192.0.2.1', '10.20.30.40'], 'public.corp': ['192.0.2.2'] });
    expect(await isInsecureRegistry(s, '10.1.2.3:5000', dns)).toBe(true);
    expect(await isInsecureRegistry(s, '11.1.2.3:5000', dns)).toBe(false);
    expect(await isInsecureRegistry(s, 'myregistry.local:5000', dns)).toBe(true);
    // Literal entries match with their port, as Docker's IndexConfigs do.
    expect(await isInsecureRegistry(s, 'myregistry.local:5001', dns)).toBe(false);
    expect(await isInsecureRegistry(s, 'other.example:8080', dns)).toBe(true);
    expect(await isInsecureRegistry(s, 'build.corp:443', dns)).toBe(true);
    expect(await isInsecureRegistry(s, 'public.corp', dns)).toBe(false);
    expect(await isInsecureRegistry(s, '[fd12::1]:5000', dns)).toBe(true);
    expect(await isInsecureRegistry(s, 'docker.io', dns)).toBe(false);
    expect(inCidrs('10.255.255.255', s.insecureCidrs)).toBe(true);
    expect(inCidrs('not-an-ip', s.insecureCidrs)).toBe(false);
  });

  it('rejects bad entries with a clear error', () => {
    expect(() => parseRegistrySettings({ 'insecure-registries': ['bad host!'] }, 'f')).toThrow(
      new RegistryConfigError('f: insecure registry bad host! is not valid'),
    );
    expect(() => parseRegistrySettings({ 'insecure-registries': 'x' }, 'f')).toThrow(/^f: insecure-registries: /);
    expect(() => parseRegistrySettings({ 'registry-mirrors': ['ftp://m'] }, 'f')).toThrow(/unsupported scheme/);
    expect(() => parseRegistrySettings({ 'registry-mirrors': ['https://m/path'] }, 'f')).toThrow(/path, query/);
    expect(() => parseRegistrySettings({ 'registry-mirrors': ['not a url'] }, 'f')).toThrow(/not a valid URI/);
    expect(() => parseRegistrySettings({ 'wharf-default-registry': 'a b' }, 'f')).toThrow(/not a registry host/);
  });

  it('mirrors apply to docker.io pulls only, in order, before the registry; pushes never use them', async () => {
    const s = parseRegistrySettings(
      { 'registry-mirrors': ['https://mirror.example.com', 'http://127.0.0.1:5001/'] },
      'f',
    );
    const dns = fakeDns({});
    expect(await pullEndpoints(s, 'docker.io', dns)).toEqual([
      { host: 'mirror.example.com', insecure: false, mirror: 'https://mirror.example.com/' },
      { host: '127.0.0.1:5001', insecure: true, mirror: 'http://127.0.0.1:5001/' },
      { host: 'docker.io', insecure: false },
    ]);
    expect(await pullEndpoints(s, 'quay.io', dns)).toEqual([{ host: 'quay.io', insecure: false }]);
    expect(await pushEndpoint(s, 'docker.io', dns)).toEqual({ host: 'docker.io', insecure: false });
  });

  it('wharf-default-registry takes the place of Docker Hub for docker.io names', async () => {
    const s = parseRegistrySettings({ 'wharf-default-registry': 'hub.corp:5000' }, 'f');
    const dns = fakeDns({ 'hub.corp': ['192.0.2.9'] });
    expect(await pullEndpoints(s, 'docker.io', dns)).toEqual([{ host: 'hub.corp:5000', insecure: false }]);
    expect(await pushEndpoint(s, 'docker.io', dns)).toEqual({ host: 'hub.corp:5000', insecure: false });
    expect(await pushEndpoint(s, 'ghcr.io', dns)).toEqual({ host: 'ghcr.io', insecure: false });
  });

  it('reads the file named by --daemon-config or WHARF_DAEMON_CONFIG; a missing default file means defaults', async () => {
    const dir = await tmpDir('wharf-regconf-');
    try {
      const file = join(dir, 'daemon.json');
      await writeFile(file, JSON.stringify({ 'insecure-registries': ['10.0.0.0/8'] }));
      expect((await loadRegistrySettings({ file })).insecureCidrs).toHaveLength(3);
      expect((await loadRegistrySettings({ env: { WHARF_DAEMON_CONFIG: file } })).source).toBe(file);
      expect((await loadRegistrySettings({ env: { WHARF_CONFIG_DIR: dir, HOME: dir } })).source).toBe(file);
      expect((await loadRegistrySettings({ env: { WHARF_CONFIG_DIR: join(dir, 'none') } })).source).toBe('defaults');
      await expect(loadRegistrySettings({ file: join(dir, 'missing.json') })).rejects.toThrow(/unable to read/);
      await writeFile(file, '{ nope');
      await expect(loadRegistrySettings({ file })).rejects.toThrow(/invalid JSON/);
    } finally {
      await removeTmpDir(dir);
    }
  });

  it('credential keys: Docker Hub under its v1 URL, other registries as host[:port]', () => {
    for (const hub of ['docker.io', 'index.docker.io', 'registry-1.docker.io', DOCKER_HUB_KEY]) {
      expect(credentialKey(hub)).toBe(DOCKER_HUB_KEY);
    }
    expect(credentialKey('127.0.0.1:5000')).toBe('127.0.0.1:5000');
    expect(credentialKey('https://registry.example.com/v2/')).toBe('registry.example.com');
    expect(convertToHostname('http://host:5000/path')).toBe('host:5000');
  });
});

describe('a docker.io pull served by a registry mirror', () => {
  let mirror: WharfProcess;
  let dir: string;
  let imageId: string;
  let manifestDigest: string;
  const wharf = (...args: string[]): Promise<RunResult> =>
    run(process.execPath, [WHARF_BIN, ...args], {
      env: { ...process.env, WHARF_ROOT: join(dir, 'root'), WHARF_CONFIG_DIR: join(dir, 'config'), HOME: dir },
    });

  beforeAll(async () => {
    mirror = await startWharf();
    dir = await tmpDir('wharf-mirror-');
    const client = new RegistryClient({ host: mirror.host });
    try {
      const layer = await makeLayer({ 'bin/hello': 'mirrored busybox\n' });
      const layerDigest = sha256(layer.gzip);
      await client.pushBlob('library/busybox', layerDigest, layer.gzip.length, async () => Readable.from([layer.gzip]));
      const config = Buffer.from(
        JSON.stringify({
          architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
          os: 'linux',
          created: '2024-03-01T00:00:00Z',
          config: {},
          rootfs: { type: 'layers', diff_ids: [layer.diffId] },
        }),
      );
      imageId = sha256(config);
      await client.pushBlob('library/busybox', imageId, config.length, async () => Readable.from([config]));
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: OCI_CONFIG, digest: imageId, size: config.length },
          layers: [{ mediaType: OCI_LAYER_GZIP, digest: layerDigest, size: layer.gzip.length }],
        }),
      );
      manifestDigest = await client.putManifest('library/busybox', 'latest', manifest, OCI_MANIFEST);
    } finally {
      await client.close();
    }
  }, 60_000);

  afterAll(async () => {
    await mirror?.cleanup();
    if (dir) await removeTmpDir(dir);
  });

  it('wharf pull busybox:latest comes from the mirror, after a dead mirror, under the docker.io name', async () => {
    const dead = await freePort(); // nothing listens there: the first mirror fails at once
    const daemonJson = join(dir, 'daemon.json');
    await writeFile(
      daemonJson,
      JSON.stringify({ 'registry-mirrors': [`http://127.0.0.1:${dead}`, `http://${mirror.host}`] }),
    );
    const r = await wharf('pull', '--daemon-config', daemonJson, 'busybox:latest');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').slice(0, 1)).toEqual(['latest: Pulling from library/busybox']);
    expect(r.stdout).toContain(`Digest: ${manifestDigest}\nStatus: Downloaded newer image for busybox:latest\n`);
    expect(r.stdout.endsWith('\ndocker.io/library/busybox:latest\n')).toBe(true);
    const ids = await wharf('images', '-q', '--no-trunc', 'busybox');
    expect(ids.stdout).toBe(`${imageId}\n`);
  });

  it("-a pulls every tag through the mirror, with Docker's all-tags status line", async () => {
    const daemonJson = join(dir, 'daemon.json');
    await writeFile(daemonJson, JSON.stringify({ 'registry-mirrors': [`http://${mirror.host}`] }));
    const client = new RegistryClient({ host: mirror.host });
    try {
      const m = await client.getManifest('library/busybox', 'latest');
      await client.putManifest('library/busybox', '1.36', m.bytes, m.mediaType);
    } finally {
      await client.close();
    }
    const r = await wharf('pull', '-a', '--daemon-config', daemonJson, 'busybox');
    expect(r.code, r.stderr).toBe(0);
    // The image is local already (the test before pulled it): no layer lines, as in Docker.
    expect(r.stdout).toBe(
      [
        '1.36: Pulling from library/busybox',
        `Digest: ${manifestDigest}`,
        'latest: Pulling from library/busybox',
        `Digest: ${manifestDigest}`,
        'Status: Downloaded newer image for busybox',
        'docker.io/library/busybox',
        '',
      ].join('\n'),
    );
    // A new tag for a known image counts as newer, as in Docker; a repeat does not.
    const again = await wharf('pull', '-a', '--daemon-config', daemonJson, 'busybox');
    expect(again.stdout).toContain('\nStatus: Image is up to date for busybox\n');
    const tagged = await wharf('pull', '-a', 'busybox:latest');
    expect(tagged.code).toBe(1);
    expect(tagged.stderr).toBe("tag can't be used with --all-tags/-a\n");
  });
});
