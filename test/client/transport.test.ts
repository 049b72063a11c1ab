// How the client reaches a registry (hub-and-engine.md §4.10): loopback hosts are insecure and
// spoken to over plain HTTP directly; other insecure hosts get https first (certificates not
// verified), then http when https fails at the transport level; secure hosts get https only.
// A TCP relay in front of Wharf (test/support/sniff-relay.mjs) records whether each connection
// opened with a TLS handshake.
//
// Tests may talk only to loopback or to test hosts they create themselves, so the hosts that are
// not on loopback are a network namespace of this test's own (test/support/netns.ts): Wharf and
// the relay run inside it (`ip netns exec`), the relay on the namespace's 10.231.x.x address,
// and the client connects to that address from here.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLoopbackHost, RegistryClient } from '../../src/client/client.js';
import { RegistryClientError } from '../../src/client/errors.js';
import { makeTestCerts, type TestCerts } from '../support/certs.js';
import { allSteps, NetnsHost } from '../support/netns.js';
import { startWharf, type WharfProcess } from '../support/server.js';
import { interopDescribe, removeTmpDir, tmpDir } from '../support/tools.js';
import { bytesBlob, HashSink } from './helpers.js';

const RELAY_SCRIPT = join(import.meta.dirname, '..', 'support', 'sniff-relay.mjs');

/**
 * Wharf without access control refuses to listen off loopback unless told to; the namespace's
 * address is reachable only from this machine, over the test's own veth pair.
 */
const NONE_OFF_LOOPBACK = { WHARF_AUTH_ALLOW_NONE_ON_NETWORK: 'true' };

type Opening = 'tls' | 'plain';

interface Relay {
  /** ip:port the relay listens on. */
  host: string;
  /** Per connection so far, in order: 'tls' when it opened with a TLS record, 'plain' otherwise. */
  connections(): Promise<Opening[]>;
  /** Ends the relay process and waits for it. */
  close(): Promise<void>;
}

function isOpenings(v: unknown): v is Opening[] {
  return Array.isArray(v) && v.every((c) => c === 'tls' || c === 'plain');
}

/**
 * A relay process listening on `ip` (any free port) in front of `target` (ip:port), run under
 * `wrap` (e.g. a NetnsHost's `ip netns exec NS`, which execs: the relay keeps the child's pid).
 */
async function relay(ip: string, target: string, wrap: string[] = []): Promise<Relay> {
  const sep = target.lastIndexOf(':');
  const [cmd = process.execPath, ...args] = [
    ...wrap,
    process.execPath,
    RELAY_SCRIPT,
    ip,
    '0',
    target.slice(0, sep),
    target.slice(sep + 1),
  ];
  const child: ChildProcess = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  child.stdin?.on('error', () => {});
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  /** Answers awaited from `connections`, in order. */
  const waiting: Array<{ resolve: (list: Opening[]) => void; reject: (e: Error) => void }> = [];
  void exited.then(() => {
    for (const w of waiting.splice(0)) w.reject(new Error(`relay exited: ${stderr}`));
  });
  let port: number | undefined;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`relay did not start within 10 s: ${stderr}`)), 10_000);
      child.once('error', (e) => reject(e));
      void exited.then(() => reject(new Error(`relay exited: ${stderr}`)));
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        const space = line.indexOf(' ');
        const word = space < 0 ? line : line.slice(0, space);
        const rest = space < 0 ? '' : line.slice(space + 1);
        if (word === 'listening') {
          clearTimeout(timer);
          resolve(Number(rest));
        } else if (word === 'connections') {
          const list: unknown = JSON.parse(rest);
          const w = waiting.shift();
          if (isOpenings(list)) w?.resolve(list);
          else w?.reject(new Error(`relay said: ${line}`));
        }
      });
    });
  } catch (e) {
    await close();
    throw e;
  }
  if (!Number.isInteger(port) || port <= 0) {
    await close();
    throw new Error(`relay listens on no port: ${stderr}`);
  }
  return {
    host: `${ip}:${port}`,
    connections: () =>
      new Promise<Opening[]>((resolve, reject) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          reject(new Error(`relay is gone: ${stderr}`));
          return;
        }
        waiting.push({ resolve, reject });
        child.stdin?.write('connections\n');
      }),
    close,
  };
}

describe('endpoint selection', () => {
  let wharf: WharfProcess;

  beforeAll(async () => {
    wharf = await startWharf();
  });
  afterAll(async () => {
    await wharf?.cleanup();
  });

  it('knows loopback hosts', () => {
    for (const h of [
      '127.0.0.1:5000',
      '127.1.2.3',
      'localhost:5000',
      'LOCALHOST',
      'foo.localhost:1',
      '[::1]:5000',
      '::1',
    ]) {
      expect(isLoopbackHost(h), h).toBe(true);
    }
    for (const h of ['192.0.2.2:5000', 'registry.example.com', '[2001:db8::1]:5000', '128.0.0.1']) {
      expect(isLoopbackHost(h), h).toBe(false);
    }
  });

  it('loopback: plain HTTP straight away', async () => {
    const r = await relay('127.0.0.1', wharf.host);
    const client = new RegistryClient({ host: r.host });
    try {
      expect(client.insecure).toBe(true);
      expect((await client.ping()).origin).toBe(`http://${r.host}`);
      expect(await r.connections()).toEqual(['plain']);
    } finally {
      await client.close();
      await r.close();
    }
  });
});

interopDescribe('endpoint selection with TLS', ['openssl'], () => {
  let dir: string;
  let certs: TestCerts;
  let wharf: WharfProcess;

  beforeAll(async () => {
    dir = await tmpDir('wharf-client-tls');
    certs = await makeTestCerts(join(dir, 'certs'));
    wharf = await startWharf({ tls: { cert: certs.cert, key: certs.key, ca: certs.caPem } });
  });
  afterAll(async () => {
    await wharf?.cleanup();
    if (dir) await removeTmpDir(dir);
  });

  it('secure loopback registry with its CA: verified https', async () => {
    const client = new RegistryClient({ host: wharf.host, insecure: false, ca: certs.caPem });
    try {
      expect((await client.ping()).origin).toBe(`https://${wharf.host}`);
      const blob = bytesBlob('tls blob');
      expect(await client.pushBlob('tls/app', blob.digest, blob.size, blob.open)).toBe('pushed');
      expect(await client.blobExists('tls/app', blob.digest)).toBe(blob.size);
    } finally {
      await client.close();
    }
  });

  it('secure registry without its CA: the certificate is refused', async () => {
    const client = new RegistryClient({ host: wharf.host, insecure: false });
    try {
      const err = await client.ping().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryClientError);
      expect((err as Error).message).toMatch(/certificate/i);
    } finally {
      await client.close();
    }
  });
});

interopDescribe('endpoint selection off loopback (a test host in a network namespace)', ['ip'], () => {
  /** Nothing exists until beforeAll creates it; the slot offset keeps it off tls.test.ts's network. */
  const testHost = new NetnsHost({ tag: 'cli', slotOffset: 8_192 });
  let work: string;
  /** Plain-HTTP Wharf inside the namespace, on its address. */
  let wharf: WharfProcess;

  /** A relay inside the namespace, on its address, in front of `target`. */
  const nsRelay = (target: WharfProcess): Promise<Relay> => relay(testHost.ip, target.host, testHost.wrap);

  beforeAll(async () => {
    work = await tmpDir('wharf-client-netns');
    await testHost.create();
    // The namespace is ours alone, so any port is free there. The data directory is under
    // `work`, so it goes even if the server never comes up.
    wharf = await startWharf({
      ip: testHost.ip,
      port: 5000,
      wrap: testHost.wrap,
      dataDir: join(work, 'plain'),
      env: NONE_OFF_LOOPBACK,
    });
  });
  afterAll(async () => {
    await allSteps([
      async () => wharf?.cleanup(),
      // Also kills whatever still runs in the namespace (a Wharf that never got ready, a relay),
      // then deletes the veth pair and the namespace.
      () => testHost.remove(),
      async () => {
        if (work) await removeTmpDir(work);
      },
    ]);
  });

  it('insecure non-loopback host: https first, then http; the client works', async () => {
    const r = await nsRelay(wharf);
    const client = new RegistryClient({ host: r.host, insecure: true });
    try {
      expect(isLoopbackHost(r.host)).toBe(false);
      const blob = bytesBlob('fallback blob');
      expect(await client.pushBlob('fallback/app', blob.digest, blob.size, blob.open)).toBe('pushed');
      const seen = await r.connections();
      expect(seen.slice(0, 2)).toEqual(['tls', 'plain']);
      expect(seen.slice(2).every((c) => c === 'plain')).toBe(true);
      const sink = new HashSink();
      await client.pullBlob('fallback/app', blob.digest, blob.size, sink);
      expect(sink.digest()).toBe(blob.digest);
    } finally {
      await client.close();
      await r.close();
    }
  });

  it('secure host (the default off loopback): https only, no fallback', async () => {
    const r = await nsRelay(wharf);
    const client = new RegistryClient({ host: r.host });
    try {
      expect(client.insecure).toBe(false);
      const err = await client.ping().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryClientError);
      expect((err as Error).message).toMatch(new RegExp(`^Get "https://${r.host}/v2/": `));
      expect(await r.connections()).toEqual(['tls']);
    } finally {
      await client.close();
      await r.close();
    }
  });

  interopDescribe('serving TLS', ['openssl'], () => {
    let certs: TestCerts;
    /** HTTPS Wharf inside the namespace, with a certificate for its address (which the client is not given). */
    let secure: WharfProcess;

    beforeAll(async () => {
      certs = await makeTestCerts(join(work, 'certs'), { ips: [testHost.ip] });
      secure = await startWharf({
        ip: testHost.ip,
        port: 5443,
        wrap: testHost.wrap,
        dataDir: join(work, 'tls'),
        env: NONE_OFF_LOOPBACK,
        tls: { cert: certs.cert, key: certs.key, ca: certs.caPem },
      });
    });
    afterAll(async () => {
      await secure?.cleanup();
    });

    it('insecure non-loopback registry serving TLS: https without verification, no fallback', async () => {
      const r = await nsRelay(secure);
      const client = new RegistryClient({ host: r.host, insecure: true });
      try {
        expect((await client.ping()).origin).toBe(`https://${r.host}`);
        expect(await r.connections()).toEqual(['tls']);
      } finally {
        await client.close();
        await r.close();
      }
    });
  });
});
