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

import { existsSync } from 'node:fs';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpsFetch, makeTestCerts, type TestCerts } from '../support/certs.js';
import { commitLayer, type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { allSteps, NetnsHost } from '../support/netns.js';
import { type MultiPlatformLayout, readLayoutImage, writeMultiPlatformLayout } from '../support/oci-layout.js';
import { startWharf, type WharfProcess, wharfAdmin } from '../support/server.js';
import { skopeo, skopeoOk } from '../support/skopeo.js';
import { interopDescribe, removeTmpDir, tmpDir } from '../support/tools.js';

const TIMEOUT = 120_000;
const PASSWORD = 'alice-Secret-1';
const CREDS = `alice:${PASSWORD}`;
const TOKEN_ENV = { WHARF_AUTH_MODE: 'token', WHARF_ADMIN_PASSWORD: 'admin-Secret-1' };
const DOCKER_CERTS_D = '/etc/docker/certs.d';

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

interopDescribe('Wharf over HTTPS with a test CA', ['openssl'], () => {
  /** The suite's test host (nothing exists until the Docker block creates it). */
  const testHost = new NetnsHost({ tag: 'tls' });
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
