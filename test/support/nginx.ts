// Debian's nginx (nginx-light) as a reverse proxy in front of a test registry, on
// 127.0.0.1:<free port>, with its config, pid, logs and temp files in a temp dir (-p/-c).
// One process (master_process off), so that kill() really cuts every transfer.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, isRoot, removeTmpDir, sleep, tmpDir, whichTool } from './tools.js';

export interface NginxOptions {
  /** `127.0.0.1:PORT` of the upstream registry, or of several nodes (round-robin, no stickiness). */
  upstream: string | string[];
  /** nginx's limit_rate: bytes per second per response (slow transfers to interrupt). */
  limitRate?: string;
}

export interface Nginx {
  url: string;
  host: string;
  port: number;
  /** Answer every request 429 TOOMANYREQUESTS (Docker Hub's body) or forward again. */
  rateLimit(on: boolean): Promise<void>;
  /** The access log's lines as `METHOD PATH STATUS`. */
  accessLog(): Promise<string[]>;
  /** Which upstream served each request, in order (`$upstream_addr`: several when nginx tried the next). */
  upstreamLog(): Promise<UpstreamLine[]>;
  /** SIGKILL: every connection is cut at once. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after kill). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface UpstreamLine {
  method: string;
  uri: string;
  status: number;
  /** The Location header of the answer (an upload's URL after its POST), or ''. */
  location: string;
  /** Every upstream tried, in order (`127.0.0.1:PORT`); empty when nginx answered itself. */
  upstreams: string[];
}

/**
 * The proxy part of the configuration: one upstream, or an `upstream` block of several nodes
 * (round-robin). Request bodies are streamed (no buffering: a 1 GiB layer never lands on nginx's
 * disk); so a PATCH already sent to a node that dies is not replayed, the client retries it.
 */
function upstreamBlock(upstream: string | string[]): { http: string[]; pass: string } {
  if (typeof upstream === 'string') return { http: [], pass: upstream };
  return {
    // max_fails/fail_timeout: a node that refused a connection is left out for 5 s.
    http: ['  upstream wharf_nodes {', ...upstream.map((u) => `    server ${u} max_fails=1 fail_timeout=5s;`), '  }'],
    pass: 'wharf_nodes',
  };
}

export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const binary = whichTool('nginx');
  if (!binary) throw new Error('nginx not found (apt-get install -y nginx-light)');
  const dir = await tmpDir('wharf-nginx');
  const port = await freePort();
  const flag = join(dir, 'ratelimit');
  const log = join(dir, 'access.log');
  const upLog = join(dir, 'upstream.log');
  const upstream = upstreamBlock(options.upstream);
  const body = JSON.stringify({
    errors: [{ code: 'TOOMANYREQUESTS', message: 'You have reached your pull rate limit (test nginx)' }],
  });
  const conf = [
    'daemon off;',
    'master_process off;',
    ...(isRoot() ? ['user root;'] : []),
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'events { worker_connections 512; }',
    'http {',
    "  log_format short '$request_method $uri $status';",
    `  access_log ${log} short;`,
    "  log_format upstream '$request_method $uri $status $upstream_http_location $upstream_addr';",
    `  access_log ${upLog} upstream;`,
    ...upstream.http,
    `  client_body_temp_path ${join(dir, 'body')};`,
    `  proxy_temp_path ${join(dir, 'proxy')};`,
    `  fastcgi_temp_path ${join(dir, 'fcgi')};`,
    `  uwsgi_temp_path ${join(dir, 'uwsgi')};`,
    `  scgi_temp_path ${join(dir, 'scgi')};`,
    '  client_max_body_size 0;',
    '  server {',
    `    listen 127.0.0.1:${port};`,
    // limit_rate needs buffered proxying (unbuffered responses ignore it).
    ...(options.limitRate ? [`    limit_rate ${options.limitRate};`] : []),
    '    location / {',
    `      if (-f ${flag}) {`,
    "        add_header Content-Type 'application/json' always;",
    '        add_header RateLimit-Limit 100 always;',
    '        add_header RateLimit-Remaining 0 always;',
    `        return 429 '${body}';`,
    '      }',
    `      proxy_pass http://${upstream.pass};`,
    // A node that refuses the connection (dead): try the next one; a request already sent is not replayed.
    '      proxy_next_upstream error timeout;',
    '      proxy_next_upstream_tries 3;',
    '      proxy_read_timeout 900s;',
    '      proxy_set_header Host $http_host;',
    `      proxy_buffering ${options.limitRate ? 'on' : 'off'};`,
    '      proxy_request_buffering off;',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
  const confFile = join(dir, 'nginx.conf');
  await writeFile(confFile, conf);
  let child: ChildProcess | undefined;
  const url = `http://127.0.0.1:${port}`;

  const start = async (): Promise<void> => {
    child = spawn(binary, ['-p', dir, '-c', confFile, '-e', join(dir, 'error.log')], { stdio: 'ignore' });
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      try {
        await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1_000) });
        return;
      } catch {
        await sleep(50);
      }
    }
    throw new Error(`nginx did not start: ${await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')}`);
  };
  const kill = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url,
    host: `127.0.0.1:${port}`,
    port,
    async rateLimit(on) {
      if (on) await writeFile(flag, '1');
      else await rm(flag, { force: true });
    },
    async accessLog() {
      const text = await readFile(log, 'utf8').catch(() => '');
      return text.split('\n').filter((l) => l !== '');
    },
    async upstreamLog() {
      const text = await readFile(upLog, 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => {
          const [method = '', uri = '', status = '0', location = '-', ...rest] = l.split(' ');
          // "$upstream_addr" lists tried servers as "A, B" (" : " after an internal redirect; "-" for none).
          const upstreams = rest
            .join(' ')
            .split(/,\s*|\s+:\s+/)
            .map((u) => u.trim())
            .filter((u) => u !== '' && u !== '-');
          return { method, uri, status: Number(status), location: location === '-' ? '' : location, upstreams };
        });
    },
    kill,
    restart: start,
    async stop() {
      await kill();
      await removeTmpDir(dir);
    },
  };
}
