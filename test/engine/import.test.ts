// `wharf import`: a busybox root filesystem becomes a one-layer image with no parent, a config made
// of the --change instructions, and Docker's "Imported from …" comment; from a file, stdin or http.
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChanges, emptyContainerConfig } from '../../src/engine/changes.js';
import { sha256, storedConfig, storeSnapshot, wharf, wharfOk } from '../support/archives.js';
import { busyboxRootfsTar } from '../support/rootfs.js';
import { removeTmpDir, tmpDir } from '../support/tools.js';

let dir: string;
let rootfs: string;
let rootfsDiffId: string;

interface Config {
  architecture: string;
  os: string;
  comment?: string;
  config: Record<string, unknown>;
  history: { created: string; comment?: string; created_by?: string }[];
  rootfs: { type: string; diff_ids: string[] };
}

async function imported(root: string, id: string): Promise<Config> {
  return (await storedConfig(root, id)) as unknown as Config;
}

describe('wharf import', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    dir = await tmpDir('wharf-import-');
    rootfs = await busyboxRootfsTar(dir);
    rootfsDiffId = sha256(await readFile(rootfs));
    server = createServer((req, res) => {
      if (req.url === '/rootfs.tar.gz') {
        res.writeHead(200, { 'content-type': 'application/gzip' });
        readFile(rootfs).then((b) => res.end(gzipSync(b)));
      } else {
        res.writeHead(404);
        res.end('not found');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    url = `http://127.0.0.1:${address.port}`;
  }, 60_000);

  afterAll(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (dir) await removeTmpDir(dir);
  });

  it('imports a file: one layer, no parent, CMD from --change, "Imported from -"', async () => {
    const root = join(dir, 'file');
    const r = await wharfOk(root, ['import', '-c', 'CMD ["/bin/sh"]', rootfs, 'imported/busybox:1']);
    const id = r.stdout.trim();
    expect(id).toMatch(/^sha256:[a-f0-9]{64}$/);
    const config = await imported(root, id);
    expect(config.rootfs).toEqual({ type: 'layers', diff_ids: [rootfsDiffId] });
    expect(config.comment).toBe('Imported from -');
    expect(config.history).toHaveLength(1);
    expect(config.history[0]?.comment).toBe('Imported from -');
    expect(config.history[0]).not.toHaveProperty('created_by');
    expect(config.config.Cmd).toEqual(['/bin/sh']);
    expect(config.config.Entrypoint).toBeNull();
    expect(config.os).toBe('linux');
    const images = await wharfOk(root, ['images', '--no-trunc']);
    expect(images.stdout).toContain(`imported/busybox   1         ${id}`);
    const snapshot = await storeSnapshot(root);
    expect(snapshot.rows.images).toHaveLength(1);
    expect(snapshot.rows.images?.[0]).toHaveProperty('parent', null);
    expect(snapshot.rows.image_layers).toHaveLength(1);
    // Stored uncompressed: the blob is the tar itself.
    expect(snapshot.rows.layers?.[0]).toHaveProperty('blob_digest', rootfsDiffId);
  });

  it('takes -m as comment and history comment, the tag defaults to latest, and no CMD without --change', async () => {
    const root = join(dir, 'message');
    const id = (await wharfOk(root, ['import', '-m', 'my message', rootfs, 'msg'])).stdout.trim();
    const config = await imported(root, id);
    expect(config.comment).toBe('my message');
    expect(config.history[0]?.comment).toBe('my message');
    expect(config.config.Cmd).toBeNull();
    expect((await wharfOk(root, ['images', 'msg'])).stdout).toMatch(/\nmsg\s+latest\s/);
  });

  it('reads stdin for "-" and honours --platform', async () => {
    const root = join(dir, 'stdin');
    const input = await readFile(rootfs);
    const r = await wharfOk(root, ['import', '--platform', 'linux/arm64', '-', 'fromstdin:1'], { input });
    const config = await imported(root, r.stdout.trim());
    expect(config.rootfs.diff_ids).toEqual([rootfsDiffId]);
    expect(config.comment).toBe('Imported from -');
    expect(config.architecture).toBe('arm64');
    expect(config).toHaveProperty('variant', 'v8');
  });

  it('downloads an http URL (gzip-compressed) and says "Imported from <url>"', async () => {
    const root = join(dir, 'url');
    const source = `${url}/rootfs.tar.gz`;
    const r = await wharfOk(root, ['import', source, 'fromurl:1']);
    const config = await imported(root, r.stdout.trim());
    // The layer is stored and identified uncompressed.
    expect(config.rootfs.diff_ids).toEqual([rootfsDiffId]);
    expect(config.comment).toBe(`Imported from ${source}`);
    expect(config.history[0]?.comment).toBe(`Imported from ${source}`);
  });

  it('fails on a URL that answers 404 and records nothing', async () => {
    const root = join(dir, 'url404');
    await wharfOk(root, ['import', rootfs, 'keep:1']);
    const before = await storeSnapshot(root);
    const r = await wharf(root, ['import', `${url}/missing.tar`, 'x:1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error response from daemon: .*404/);
    expect(await storeSnapshot(root)).toEqual(before);
  });

  it('refuses a change docker refuses, in docker words, before reading the input', async () => {
    const root = join(dir, 'badchange');
    const r = await wharf(root, ['import', '-c', 'RUN echo hi', rootfs]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error response from daemon: run is not a valid change command\n');
    const missing = await wharf(root, ['import', join(dir, 'nope.tar')]);
    expect(missing.stderr).toBe(`open ${join(dir, 'nope.tar')}: no such file or directory\n`);
    const digest = await wharf(root, ['import', rootfs, `x@${rootfsDiffId}`]);
    expect(digest.stderr).toBe('Error response from daemon: cannot import digest reference\n');
  });

  it('refuses input that is not a tar and records nothing', async () => {
    const root = join(dir, 'nottar');
    await wharfOk(root, ['import', rootfs, 'keep:1']);
    const before = await storeSnapshot(root);
    const r = await wharf(root, ['import', '-', 'junk:1'], { input: Buffer.from('not a tar\n'.repeat(100)) });
    expect(r.code).toBe(1);
    expect(await storeSnapshot(root)).toEqual(before);
    expect((await stat(rootfs)).size).toBeGreaterThan(0);
  });
});

describe('--change instructions (Dockerfile forms, as docker reads them)', () => {
  const apply = (...changes: string[]) => applyChanges(emptyContainerConfig(), changes);

  it('keeps Go key order and null empties (same bytes as docker)', () => {
    expect(JSON.stringify(apply('CMD ["/bin/sh"]'))).toBe(
      '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["/bin/sh"],"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null}',
    );
  });

  it('reads exec and shell forms of CMD and ENTRYPOINT; ENTRYPOINT drops an earlier-unset CMD', () => {
    expect(apply('CMD echo hi').Cmd).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(apply('ENTRYPOINT ["/bin/app", "-v"]').Entrypoint).toEqual(['/bin/app', '-v']);
    const both = apply('CMD ["a"]', 'ENTRYPOINT ["b"]');
    expect(both.Cmd).toEqual(['a']);
    const base = { ...emptyContainerConfig(), Cmd: ['old'] };
    expect(applyChanges(base, ['ENTRYPOINT ["b"]']).Cmd).toBeNull();
  });

  it('reads ENV and LABEL pairs with quotes, legacy form and $VAR expansion', () => {
    const c = apply(
      'ENV A=1 B="two words"',
      'ENV C $A-x',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile variable, not a template
      'LABEL "com.example.v"="1.0" z=${A:-none}',
      'WORKDIR /app',
      'WORKDIR sub',
    );
    expect(c.Env).toEqual(['A=1', 'B=two words', 'C=1-x']);
    expect(c.Labels).toEqual({ 'com.example.v': '1.0', z: '1' });
    expect(c.WorkingDir).toBe('/app/sub');
  });

  it('reads EXPOSE, VOLUME, USER, STOPSIGNAL, ONBUILD and HEALTHCHECK', () => {
    const c = apply(
      'EXPOSE 80 53/udp 8000-8001',
      'VOLUME ["/data", "/logs"]',
      'USER nobody:nogroup',
      'STOPSIGNAL SIGINT',
      'ONBUILD RUN echo child',
      'HEALTHCHECK --interval=30s --retries=3 CMD wget -q localhost',
    );
    expect(Object.keys(c.ExposedPorts ?? {})).toEqual(['53/udp', '80/tcp', '8000/tcp', '8001/tcp']);
    expect(c.Volumes).toEqual({ '/data': {}, '/logs': {} });
    expect(c.User).toBe('nobody:nogroup');
    expect(c.StopSignal).toBe('SIGINT');
    expect(c.OnBuild).toEqual(['RUN echo child']);
    expect(c.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'wget -q localhost'], Interval: 30e9, Retries: 3 });
    expect(apply('HEALTHCHECK NONE').Healthcheck).toEqual({ Test: ['NONE'] });
  });

  it('refuses other instructions and bad arguments in docker words', () => {
    expect(() => apply('FROM busybox')).toThrow('from is not a valid change command');
    expect(() => apply('COPY a b')).toThrow('copy is not a valid change command');
    expect(() => apply('STOPSIGNAL NOPE')).toThrow('Invalid signal: NOPE');
    expect(() => apply('ONBUILD ONBUILD CMD x')).toThrow("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  });
});
