// HTTPS with a test certificate (issue 3, "Must show"): a throwaway CA made
// with openssl signs a server certificate for 127.0.0.1, localhost and the
// address of this test's own test host (see below); Wharf serves it from
// WHARF_TLS_CERT/WHARF_TLS_KEY in token mode, so the token endpoint is HTTPS
// too.
//
// - skopeo verifies certificates whatever the host: with `--cert-dir` holding
//   the CA and `--tls-verify=true` it works, without the CA it fails with
//   x509's "certificate signed by unknown authority".
// - Docker is different (hub-and-engine.md §4.10): 127.0.0.0/8 is always an
//   insecure registry, for which the daemon tries https *without
//   verification* and then http, and never reads certs.d
//   (registry.newTLSConfig only loads /etc/docker/certs.d/HOST:PORT when the
//   registry is secure). So against 127.0.0.1 the CA is irrelevant: the test
//   shows that a push works with no CA anywhere, and because Wharf here
//   answers only TLS (checked), that the push went over HTTPS.
//   The real check of Docker's certificate handling needs a registry that is
//   not on loopback. Tests may talk only to loopback or to test hosts they
//   create themselves, so the suite makes one: a network namespace
//   (`ip netns add`) joined to this one by a veth pair on a /30 of
//   10.231.0.0/16 picked from the pid; Wharf runs inside it
//   (`ip netns exec`) on the namespace side's address, which Docker treats as
//   a secure registry: without the CA `docker login` fails with "certificate
//   signed by unknown authority"; with the CA in
//   /etc/docker/certs.d/IP:PORT/ca.crt (the only location Debian's dockerd
//   20.10 reads for a rootful daemon: there is no flag or variable for it,
//   only rootless mode moves it under $XDG_CONFIG_HOME) login, push and pull
//   work. The folder, the Wharf process, the veth pair and the namespace are
//   removed afterwards (also when setting up failed halfway).

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpsFetch, makeTestCerts, type TestCerts } from '../support/certs.js';
import { commitLayer, type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { type MultiPlatformLayout, readLayoutImage, writeMultiPlatformLayout } from '../support/oci-layout.js';
import { startWharf, WHARF_BIN, type WharfProcess } from '../support/server.js';
import {
  interopDescribe,
  type RunResult,
  removeTmpDir,
  run,
  runOk,
  sleep,
  tmpDir,
  whichTool,
} from '../support/tools.js';

const TIMEOUT = 120_000;
const PASSWORD = 'alice-Secret-1';
const CREDS = `alice:${PASSWORD}`;
const TOKEN_ENV = { WHARF_AUTH_MODE: 'token', WHARF_ADMIN_PASSWORD: 'admin-Secret-1' };
const DOCKER_CERTS_D = '/etc/docker/certs.d';

/** Credentials come only from the flags: no auth.json or docker config of the machine is read. */
const HERMETIC_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  REGISTRY_AUTH_FILE: '/nonexistent/wharf-test/auth.json',
  DOCKER_CONFIG: '/nonexistent/wharf-test/docker',
};

function skopeo(args: string[]): Promise<RunResult> {
  return run('skopeo', args, { timeoutMs: TIMEOUT, env: HERMETIC_ENV });
}

async function skopeoOk(args: string[]): Promise<string> {
  return (await runOk('skopeo', args, { timeoutMs: TIMEOUT, env: HERMETIC_ENV })).stdout;
}

/** `wharf ARGS`: the admin CLI, run on the data directory of the running server. */
async function wharfAdmin(args: string[], input?: string): Promise<string> {
  return (await runOk(process.execPath, [WHARF_BIN, ...args], input === undefined ? {} : { input })).stdout;
}

/** A token-mode Wharf over HTTPS with alice's account (on 127.0.0.1 unless `where` says otherwise). */
async function startTlsWharf(
  certs: TestCerts,
  where: { ip?: string; port?: number; wrap?: string[]; dataDir?: string } = {},
): Promise<WharfProcess> {
  const wharf = await startWharf({
    ...where,
    env: TOKEN_ENV,
    tls: { cert: certs.cert, key: certs.key, ca: certs.caPem },
  });
  try {
    await wharfAdmin(['user', 'add', 'alice', '--password-stdin', '--data', wharf.dataDir], `${PASSWORD}\n`);
  } catch (e) {
    await wharf.cleanup();
    throw e;
  }
  return wharf;
}

/** What a plain-HTTP request to `host` gets: `HTTP <status>`, or `error: …` when no HTTP answer comes. */
function plainHttp(host: string): Promise<string> {
  return fetch(`http://${host}/v2/`).then(
    (r) => `HTTP ${r.status}`,
    (e: unknown) => `error: ${e instanceof Error ? e.message : String(e)}`,
  );
}

/** Runs every step, even after one fails; then throws the first failure. */
async function allSteps(steps: Array<() => Promise<unknown>>): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length > 0) throw errors[0];
}

/**
 * A test host of this test's own: a network namespace joined to this one by a veth pair on a
 * /30 of 10.231.0.0/16 picked from the pid (so parallel runs do not clash). This side gets
 * the .1 address, the namespace the .2 one (plus its own `lo`). Only `create()` and
 * `remove()` have effects; remove() undoes whatever create() got done, and a process exit
 * handler does the same if the test process ends without calling it.
 */
class NetnsHost {
  /** Namespace name, for `ip netns`. */
  readonly name: string;
  /** The veth end in this namespace (interface names: at most 15 characters). */
  readonly hostVeth: string;
  /** Its peer, inside the namespace. */
  readonly nsVeth: string;
  /** This side's address. */
  readonly hostIp: string;
  /** The test host's address: what clients connect to. */
  readonly ip: string;
  /** The /30 both are on. */
  readonly subnet: string;
  private readonly ipBin: string;
  private nsCreated = false;
  private vethCreated = false;
  private readonly onExit = (): void => this.removeSync();

  constructor(pid: number) {
    this.name = `wharf-tls-${pid}`;
    this.hostVeth = `wtls${pid}h`;
    this.nsVeth = `wtls${pid}n`;
    // 16384 /30 networks in 10.231.0.0/16: 64 per third octet.
    const slot = pid % 16_384;
    const base = `10.231.${slot >> 6}`;
    const first = (slot & 63) * 4;
    this.subnet = `${base}.${first}/30`;
    this.hostIp = `${base}.${first + 1}`;
    this.ip = `${base}.${first + 2}`;
    this.ipBin = whichTool('ip') ?? 'ip';
  }

  /** Command prefix that runs a program inside the namespace (`ip netns exec` execs it: same pid). */
  get wrap(): string[] {
    return [this.ipBin, 'netns', 'exec', this.name];
  }

  private ipOk(args: string[]): Promise<RunResult> {
    return runOk(this.ipBin, args, { timeoutMs: 30_000 });
  }

  async create(): Promise<void> {
    const inUse = (await this.ipOk(['-4', '-o', 'addr', 'show', 'to', this.subnet])).stdout.trim();
    if (inUse !== '') throw new Error(`test host network ${this.subnet} is already in use here:\n${inUse}`);
    process.on('exit', this.onExit);
    await this.ipOk(['netns', 'add', this.name]);
    this.nsCreated = true;
    await this.ipOk(['link', 'add', this.hostVeth, 'type', 'veth', 'peer', 'name', this.nsVeth, 'netns', this.name]);
    this.vethCreated = true;
    await this.ipOk(['addr', 'add', `${this.hostIp}/30`, 'dev', this.hostVeth]);
    await this.ipOk(['link', 'set', this.hostVeth, 'up']);
    await this.ipOk(['-n', this.name, 'addr', 'add', `${this.ip}/30`, 'dev', this.nsVeth]);
    await this.ipOk(['-n', this.name, 'link', 'set', this.nsVeth, 'up']);
    await this.ipOk(['-n', this.name, 'link', 'set', 'lo', 'up']);
  }

  /** PIDs of the processes running in the namespace. */
  private async pids(): Promise<number[]> {
    const r = await run(this.ipBin, ['netns', 'pids', this.name], { timeoutMs: 30_000 });
    return r.code === 0 ? parsePids(r.stdout) : [];
  }

  /**
   * Kills what still runs in the namespace, deletes the veth pair, then the namespace: each step
   * is tried even if an earlier one failed, and only what create() made is deleted.
   */
  async remove(): Promise<void> {
    await allSteps([
      async () => {
        if (!this.nsCreated) return;
        const deadline = Date.now() + 10_000;
        for (let pids = await this.pids(); pids.length > 0; pids = await this.pids()) {
          if (Date.now() > deadline) throw new Error(`processes ${pids.join(', ')} in ${this.name} do not die`);
          for (const pid of pids) killQuietly(pid);
          await sleep(100);
        }
      },
      // Deleting one end deletes both, at once (a namespace is torn down asynchronously).
      async () => {
        if (!this.vethCreated) return;
        await this.ipOk(['link', 'del', this.hostVeth]);
        this.vethCreated = false;
      },
      async () => {
        if (!this.nsCreated) return;
        await this.ipOk(['netns', 'del', this.name]);
        this.nsCreated = false;
      },
    ]);
    // Kept while anything is left, as a last try at exit.
    process.off('exit', this.onExit);
  }

  /** remove() for a process exit handler: synchronous, best effort. */
  private removeSync(): void {
    const ip = (args: string[]) => spawnSync(this.ipBin, args, { encoding: 'utf8', timeout: 10_000 });
    if (this.nsCreated) for (const pid of parsePids(ip(['netns', 'pids', this.name]).stdout ?? '')) killQuietly(pid);
    if (this.vethCreated) ip(['link', 'del', this.hostVeth]);
    if (this.nsCreated) ip(['netns', 'del', this.name]);
  }
}

function parsePids(text: string): number[] {
  return text
    .split('\n')
    .map((l) => Number.parseInt(l, 10))
    .filter((n) => Number.isInteger(n) && n > 0);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

interopDescribe('Wharf over HTTPS with a test CA', ['openssl'], () => {
  /** The suite's test host (nothing exists until the Docker block creates it). */
  const testHost = new NetnsHost(process.pid);
  let work: string;
  let certs: TestCerts;
  /** Wharf on 127.0.0.1 over HTTPS. */
  let wharf: WharfProcess;

  beforeAll(async () => {
    work = await tmpDir('wharf-tls');
    certs = await makeTestCerts(join(work, 'certs'), {
      ips: ['127.0.0.1', testHost.ip],
      dns: ['localhost'],
    });
    wharf = await startTlsWharf(certs);
  }, TIMEOUT);

  afterAll(async () => {
    await wharf?.cleanup();
    if (work) await removeTmpDir(work);
  }, TIMEOUT);

  it(
    'serves only HTTPS, with the test certificate, and hands out an https token realm',
    async () => {
      expect(wharf.url).toBe(`https://${wharf.host}`);
      const res = await httpsFetch(`${wharf.url}/v2/`, { ca: certs.caPem });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe(`Bearer realm="https://${wharf.host}/token",service="wharf"`);
      // localhost is in the certificate too (connecting to 127.0.0.1: localhost may resolve to ::1 first).
      const byName = await httpsFetch(`${wharf.url}/healthz`, { ca: certs.caPem, servername: 'localhost' });
      expect(byName.status).toBe(200);
      // A name that is not in it is refused.
      await expect(httpsFetch(`${wharf.url}/healthz`, { ca: certs.caPem, servername: 'example.test' })).rejects.toThrow(
        /ERR_TLS_CERT_ALTNAME_INVALID/,
      );
      // Without the CA, Node refuses the certificate.
      await expect(httpsFetch(`${wharf.url}/v2/`)).rejects.toThrow(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|self.signed/i);
      // Plain HTTP on the same port gets no HTTP answer.
      expect(await plainHttp(wharf.host)).toMatch(/^error: /);
    },
    TIMEOUT,
  );

  interopDescribe('skopeo', ['skopeo'], () => {
    let src: string;
    let layout: MultiPlatformLayout;
    let certDir: string;
    let emptyCertDir: string;

    beforeAll(async () => {
      src = join(work, 'src');
      layout = await writeMultiPlatformLayout(src, 'v1', [{ os: 'linux', architecture: 'amd64' }]);
      // --cert-dir wants a directory whose *.crt files are CAs (client certs are *.cert + *.key).
      certDir = join(work, 'skopeo-certs');
      emptyCertDir = join(work, 'no-certs');
      await Promise.all([mkdir(certDir), mkdir(emptyCertDir)]);
      await writeFile(join(certDir, 'ca.crt'), certs.caPem);
    }, TIMEOUT);

    it(
      'copies in and out with --cert-dir holding the CA and --tls-verify=true',
      async () => {
        const remote = `docker://${wharf.host}/alice/tls:v1`;
        const copyIn = await skopeoOk([
          'copy',
          '--dest-tls-verify=true',
          '--dest-cert-dir',
          certDir,
          '--dest-creds',
          CREDS,
          `oci:${src}:v1`,
          remote,
        ]);
        expect(copyIn).toContain('Writing manifest to image destination');

        const out = join(work, 'out');
        await skopeoOk([
          'copy',
          '--src-tls-verify=true',
          '--src-cert-dir',
          certDir,
          '--src-creds',
          CREDS,
          remote,
          `oci:${out}:v1`,
        ]);
        const manifestDigest = layout.manifests.get('linux/amd64')!.digest;
        expect((await readLayoutImage(out, 'v1')).descriptor.digest).toBe(manifestDigest);

        const info: unknown = JSON.parse(
          await skopeoOk(['inspect', '--tls-verify=true', '--cert-dir', certDir, '--creds', CREDS, remote]),
        );
        expect(info).toMatchObject({ Name: `${wharf.host}/alice/tls`, Digest: manifestDigest });
      },
      TIMEOUT,
    );

    it(
      'fails with a certificate error when verifying without the CA',
      async () => {
        const remote = `docker://${wharf.host}/alice/tls:v1`;
        const inspect = await skopeo([
          'inspect',
          '--tls-verify=true',
          '--cert-dir',
          emptyCertDir,
          '--creds',
          CREDS,
          remote,
        ]);
        expect(inspect.code).not.toBe(0);
        expect(inspect.stderr).toContain('x509: certificate signed by unknown authority');

        const copyIn = await skopeo([
          'copy',
          '--dest-tls-verify=true',
          '--dest-cert-dir',
          emptyCertDir,
          '--dest-creds',
          CREDS,
          `oci:${src}:v1`,
          `docker://${wharf.host}/alice/tls:v2`,
        ]);
        expect(copyIn.code).not.toBe(0);
        expect(copyIn.stderr).toContain('x509: certificate signed by unknown authority');
      },
      TIMEOUT,
    );
  });

  interopDescribe('docker', ['dockerd', 'docker', 'busybox', 'ip'], () => {
    let d: Dockerd;
    let appId: string;
    const opts = { timeoutMs: TIMEOUT };

    async function imageId(ref: string): Promise<string> {
      return (await d.dockerOk(['image', 'inspect', '--format', '{{.Id}}', ref], opts)).trim();
    }

    function login(host: string) {
      return d.docker(['login', host, '-u', 'alice', '--password-stdin'], { ...opts, input: `${PASSWORD}\n` });
    }

    /** Push `ref`, remove it and the local tag, pull it back: the image ID must survive. */
    async function pushAndPullBack(ref: string): Promise<void> {
      await d.dockerOk(['tag', 'tls-app:1', ref], opts);
      const pushed = await d.dockerOk(['push', ref], opts);
      expect(pushed).toMatch(/^1: digest: sha256:[0-9a-f]{64} size: \d+$/m);
      await d.dockerOk(['rmi', ref], opts);
      const pulled = await d.dockerOk(['pull', ref], opts);
      expect(pulled).toContain(`Status: Downloaded newer image for ${ref}`);
      expect(await imageId(ref)).toBe(appId);
    }

    beforeAll(async () => {
      d = await startDockerd();
      await makeBusyboxImage(d, 'tls-base:1');
      appId = await commitLayer(d, 'tls-base:1', 'tls-app:1', 'etc/tls/app.txt', 'tls\n');
    }, TIMEOUT);

    afterAll(async () => {
      await d?.stop();
    }, TIMEOUT);

    it(
      'on 127.0.0.1 Docker skips verification (loopback is an insecure registry), yet still speaks HTTPS',
      async () => {
        // No CA in any certs.d folder for this host: the daemon does not look there for loopback.
        const login1 = await login(wharf.host);
        expect(login1.code, login1.stderr).toBe(0);
        expect(login1.stdout).toContain('Login Succeeded');
        await pushAndPullBack(`${wharf.host}/alice/loopback:1`);
        // Docker would have fallen back to http://, but Wharf answers only TLS on this port: the
        // login, push and pull went over HTTPS (unverified, as Docker does for loopback).
        expect(await plainHttp(wharf.host)).toMatch(/^error: /);
      },
      TIMEOUT,
    );

    describe('on a test host in a network namespace (a secure registry for Docker)', () => {
      let secure: WharfProcess;
      let hostCertsDir: string;
      /** Whether /etc/docker/certs.d was there before (else it is removed again, if left empty). */
      let hadCertsD = true;

      beforeAll(async () => {
        hadCertsD = existsSync(DOCKER_CERTS_D);
        await testHost.create();
        // The namespace is ours alone, so any port is free there. The data directory is under
        // `work`, so it goes even if the server never comes up.
        secure = await startTlsWharf(certs, {
          ip: testHost.ip,
          port: 5000,
          wrap: testHost.wrap,
          dataDir: join(work, 'netns-data'),
        });
        hostCertsDir = join(DOCKER_CERTS_D, secure.host);
      }, TIMEOUT);

      afterAll(async () => {
        await allSteps([
          async () => {
            if (hostCertsDir) await rm(hostCertsDir, { recursive: true, force: true });
            // rmdir: only if nothing else was put there meanwhile.
            if (!hadCertsD) await rmdir(DOCKER_CERTS_D).catch(() => {});
          },
          async () => secure?.cleanup(),
          // Also kills a Wharf that never got ready, then deletes the veth pair and the namespace.
          () => testHost.remove(),
        ]);
      }, TIMEOUT);

      it(
        'without the CA in certs.d, docker login fails with a certificate error',
        async () => {
          const r = await login(secure.host);
          expect(r.code).not.toBe(0);
          expect(r.stderr).toContain(`https://${secure.host}/v2/`);
          expect(r.stderr).toContain('x509: certificate signed by unknown authority');
          // A secure registry gets no HTTP fallback either.
          expect(r.stderr).not.toContain(`http://${secure.host}`);
        },
        TIMEOUT,
      );

      it(
        'with the CA in /etc/docker/certs.d/HOST:PORT/ca.crt, login, push and pull work over verified HTTPS',
        async () => {
          await mkdir(hostCertsDir, { recursive: true });
          await writeFile(join(hostCertsDir, 'ca.crt'), certs.caPem);
          const r = await login(secure.host);
          expect(r.code, r.stderr).toBe(0);
          expect(r.stdout).toContain('Login Succeeded');
          await pushAndPullBack(`${secure.host}/alice/secure:1`);
        },
        TIMEOUT,
      );
    });
  });
});
