// A throw-away, single-node OpenStack Swift with its S3 API (s3api + tempauth), the real
// S3-compatible server the S3 driver is tested against (issue 12: no fake S3 servers).
// Everything lives in one temp directory: swift.conf, rings, storage, logs, pid files;
// every server (account, container, object, proxy, memcached) on a free 127.0.0.1 port.
// Nothing is written outside it: test/support/swift-launch.py points Swift at that
// directory instead of /etc/swift.
//
// By hand:  npx tsx test/support/swift.ts     (prints the endpoint and keys; Ctrl-C stops it)
// Debian packages: swift swift-proxy swift-account swift-container swift-object python3-swift memcached
import { type ChildProcess, spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { S3Driver } from '../../src/storage/drivers/s3.js';
import { freePort, removeTmpDir, runOk, tmpDir, waitFor, whichTool } from './tools.js';

/** The binaries (from the Debian packages) that the store needs; for interopDescribe. */
export const SWIFT_TOOLS = ['swift-proxy-server', 'swift-object-server', 'memcached'];

/** Set (by test/support/s3-setup.ts) to the run's store's S3 endpoint; test servers get buckets in it. */
export const S3_ENDPOINT_ENV = 'WHARF_TEST_S3_ENDPOINT';

/** tempauth's one account (proxyConf), as S3 credentials; every store has the same. */
export const SWIFT_CREDENTIALS = { accessKeyId: 'test:tester', secretAccessKey: 'testing', region: 'us-east-1' };

/** A driver on `bucket` of the store at `endpoint`: path-style addressing, the test account. */
export function swiftDriver(endpoint: string, bucket: string, prefix?: string): S3Driver {
  return new S3Driver({ bucket, endpoint, forcePathStyle: true, ...SWIFT_CREDENTIALS, ...(prefix ? { prefix } : {}) });
}

/** Creates `bucket` in the store at `endpoint` and returns a driver on it. */
export async function createSwiftBucket(endpoint: string, bucket: string): Promise<S3Driver> {
  const driver = swiftDriver(endpoint, bucket);
  await driver.client.send(new CreateBucketCommand({ Bucket: bucket }));
  return driver;
}

const LAUNCHER = join(dirname(fileURLToPath(import.meta.url)), 'swift-launch.py');

export interface SwiftStore {
  /** The S3 endpoint, e.g. http://127.0.0.1:PORT (path-style addressing only). */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The temp directory: storage, rings, configuration and *.log files. */
  dir: string;
  stop(): Promise<void>;
}

const ROLES = ['account', 'container', 'object'] as const;

function serverConf(role: string, dir: string, port: number): string {
  return `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
user = root
swift_dir = ${dir}
devices = ${dir}/devices
mount_check = false
log_name = ${role}-server
log_level = INFO
log_udp_host =
log_address = /nonexistent

[pipeline:main]
pipeline = ${role}-server

[app:${role}-server]
use = egg:swift#${role}
${
  role === 'object'
    ? `
[object-updater]
interval = 1
`
    : ''
}`;
}

function proxyConf(dir: string, port: number, memcachedPort: number): string {
  return `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
user = root
swift_dir = ${dir}
log_name = proxy-server
log_address = /nonexistent

[pipeline:main]
pipeline = catch_errors healthcheck proxy-logging cache s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${memcachedPort}

[filter:s3api]
use = egg:swift#s3api
location = us-east-1
s3_acl = false
check_bucket_owner = false

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
`;
}

/** Starts the store and waits until the S3 API answers; 4–9 s on a 2-core machine. */
export async function startSwift(): Promise<SwiftStore> {
  // Debian's python3, which has the swift package (not a pyenv or venv one earlier on $PATH).
  const python = '/usr/bin/python3';
  const memcached = whichTool('memcached') ?? 'memcached';
  const dir = await tmpDir('wharf-swift');
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            // The process group: run_wsgi forks a worker per server.
            try {
              if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
            } catch {
              child.kill('SIGKILL');
            }
          }),
      ),
    );
    await removeTmpDir(dir);
  };
  try {
    await mkdir(join(dir, 'devices', 'd1'), { recursive: true });
    await writeFile(
      join(dir, 'swift.conf'),
      '[swift-hash]\nswift_hash_path_prefix = wharf-test\nswift_hash_path_suffix = wharf-test\n\n[storage-policy:0]\nname = gold\ndefault = yes\n',
    );
    const ports = { account: await freePort(), container: await freePort(), object: await freePort() };
    const proxyPort = await freePort();
    const memcachedPort = await freePort();
    await runOk(python, [LAUNCHER, dir, 'rings', String(ports.account), String(ports.container), String(ports.object)]);

    const launch = (name: string, cmd: string, args: string[]): void => {
      const log = openSync(join(dir, `${name}.log`), 'a');
      const child = spawn(cmd, args, { detached: true, stdio: ['ignore', log, log] });
      children.push(child);
    };
    launch('memcached', python, [
      LAUNCHER,
      dir,
      'exec',
      memcached,
      '-u',
      'root',
      '-l',
      '127.0.0.1',
      '-p',
      String(memcachedPort),
      '-U',
      '0',
      '-m',
      '64',
    ]);
    for (const role of ROLES) {
      const conf = join(dir, `${role}-server.conf`);
      await writeFile(conf, serverConf(role, dir, ports[role]));
      launch(role, python, [LAUNCHER, dir, role, conf]);
    }
    launch('updater', python, [LAUNCHER, dir, 'updater', join(dir, 'object-server.conf')]);
    const conf = join(dir, 'proxy-server.conf');
    await writeFile(conf, proxyConf(dir, proxyPort, memcachedPort));
    launch('proxy', python, [LAUNCHER, dir, 'proxy', conf]);

    const endpoint = `http://127.0.0.1:${proxyPort}`;
    await waitFor(
      'the Swift proxy to answer',
      async () => {
        for (const child of children) {
          if (child.exitCode !== null) throw new Error(`a Swift server exited early; see the logs in ${dir}`);
        }
        if (!(await answers(`${endpoint}/healthcheck`, true))) return false;
        for (const role of ROLES) if (!(await answers(`http://127.0.0.1:${ports[role]}/`, false))) return false;
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    return { endpoint, ...SWIFT_CREDENTIALS, dir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Does `url` answer HTTP at all (a storage server says 400 to `/`), or with 200 when `ok` is set? */
function answers(url: string, ok: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(!ok || res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

// Run by hand: start, print the settings, stop on Ctrl-C.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const store = await startSwift();
  process.stdout.write(
    `Swift S3 endpoint ${store.endpoint} region ${store.region}\n` +
      `AWS_ACCESS_KEY_ID=${store.accessKeyId} AWS_SECRET_ACCESS_KEY=${store.secretAccessKey}\n` +
      `logs and data in ${store.dir}; Ctrl-C stops it\n`,
  );
  const quit = () => void store.stop().then(() => process.exit(0));
  process.once('SIGINT', quit);
  process.once('SIGTERM', quit);
}
