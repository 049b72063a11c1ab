// A throwaway certificate authority and a server certificate signed by it,
// made with `openssl` for the TLS interop tests. Keys are ECDSA P-256; the
// server certificate carries its names only as subjectAltName entries (Go
// clients such as docker and skopeo ignore the CN), is not a CA, and is valid
// for serverAuth only.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { runOk } from './tools.js';

export interface TestCerts {
  dir: string;
  /** The CA certificate (PEM file) that clients must trust. */
  caCert: string;
  /** Its contents, for Node's `ca` option. */
  caPem: string;
  caKey: string;
  /** Server certificate and key (PEM files) for WHARF_TLS_CERT/KEY. */
  cert: string;
  key: string;
}

/**
 * Writes (creating `dir` if needed) ca.crt/ca.key and server.crt/server.key into `dir`: a CA named
 * "Wharf test CA <random>" and a server certificate for the given IP
 * addresses and DNS names (default 127.0.0.1 and localhost), valid for 2 days.
 */
export async function makeTestCerts(dir: string, names: { ips?: string[]; dns?: string[] } = {}): Promise<TestCerts> {
  const ips = names.ips ?? ['127.0.0.1'];
  const dns = names.dns ?? ['localhost'];
  const caCert = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  const cert = join(dir, 'server.crt');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const ext = join(dir, 'server.ext');
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const unique = `${process.pid}-${Date.now()}`;
  await mkdir(dir, { recursive: true });

  await runOk('openssl', [
    'req',
    '-x509',
    ...ecKey,
    '-keyout',
    caKey,
    '-out',
    caCert,
    '-days',
    '2',
    '-subj',
    `/O=Wharf tests/CN=Wharf test CA ${unique}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await runOk('openssl', [
    'req',
    '-new',
    ...ecKey,
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    `/O=Wharf tests/CN=${dns[0] ?? ips[0]}`,
  ]);
  const altNames = [...ips.map((ip) => `IP:${ip}`), ...dns.map((d) => `DNS:${d}`)].join(',');
  await writeFile(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${altNames}`,
      '',
    ].join('\n'),
  );
  await runOk('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    caCert,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-days',
    '2',
    '-sha256',
    '-extfile',
    ext,
    '-out',
    cert,
  ]);
  return { dir, caCert, caPem: await readFile(caCert, 'utf8'), caKey, cert, key };
}

export interface HttpsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A request over HTTPS trusting only `ca` (or nothing but the system store when
 * `ca` is undefined). Rejects on TLS errors, with Node's error code in the message.
 */
export function httpsFetch(
  url: string,
  options: {
    ca?: string;
    method?: string;
    headers?: Record<string, string>;
    /** The name to expect in the certificate (and send as SNI) instead of the URL's host. */
    servername?: string;
  } = {},
): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        timeout: 10_000,
        ...(options.ca !== undefined ? { ca: options.ca } : {}),
        ...(options.servername !== undefined ? { servername: options.servername } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', (e: NodeJS.ErrnoException) => reject(new Error(`${e.code ?? 'error'}: ${e.message}`)));
    req.end();
  });
}
