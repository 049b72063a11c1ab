// `wharf serve` stops gracefully on SIGTERM (docker stop, systemctl stop): it stops accepting
// connections, lets a request in flight finish, and exits 0.
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startWharf, type WharfProcess } from '../support/server.js';
import { sleep } from '../support/tools.js';

describe('wharf serve on SIGTERM', () => {
  let wharf: WharfProcess | undefined;
  afterEach(async () => {
    await wharf?.cleanup();
    wharf = undefined;
  });

  it('finishes an upload in flight, refuses new connections, then exits 0', async () => {
    wharf = await startWharf();
    const start = await fetch(`${wharf.url}/v2/drain/me/blobs/uploads/`, { method: 'POST' });
    expect(start.status).toBe(202);
    const location = new URL(start.headers.get('location') ?? '', wharf.url);
    const exit = new Promise<number | null>((resolve) => wharf?.child.once('exit', (code) => resolve(code)));

    // A PATCH whose body arrives in two parts, with the SIGTERM in between.
    const response = new Promise<number>((resolve, reject) => {
      const req = request(location, { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream' } });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(Buffer.alloc(64 * 1024, 1));
      setTimeout(async () => {
        wharf?.child.kill('SIGTERM');
        await sleep(500);
        // Draining: new connections are refused while the upload goes on.
        const refused = await fetch(`${wharf?.url}/v2/`).then(
          () => false,
          () => true,
        );
        req.end(Buffer.alloc(64 * 1024, 2));
        if (!refused) reject(new Error('a new connection was accepted while draining'));
      }, 300);
    });
    expect(await response).toBe(202);
    expect(await exit).toBe(0);
  }, 30_000);
});
