import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { startWharf, type WharfProcess } from '../support/server.js';

/** Sends a PATCH that announces more bytes than it sends, then hangs up: a client that died. */
function abortedPatch(port: number, location: string, delayMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        `PATCH ${location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 27\r\n\r\n`,
      );
      socket.write(Buffer.alloc(17, 1));
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, delayMs);
    });
    socket.on('error', () => resolve());
  });
}

describe('clients that hang up mid-upload', () => {
  let wharf: WharfProcess;
  beforeAll(async () => {
    wharf = await startWharf();
  });
  afterAll(() => wharf.cleanup());

  it('never take the server down, and the sessions stay usable', async () => {
    // Once, a destroyed write stream's fd was closed a second time, closing whatever file had
    // been given that number since (SQLite's): the process aborted after a few dozen of these.
    for (let i = 0; i < 150; i++) {
      const start = await fetch(`${wharf.url}/v2/abort/me/blobs/uploads/`, { method: 'POST' });
      const location = start.headers.get('location') as string;
      await abortedPatch(wharf.port, location, i % 3);
      await fetch(`${wharf.url}${location}`, { method: 'PATCH', body: 'abc' }).then((r) => r.arrayBuffer());
    }
    expect(wharf.child.exitCode).toBeNull();
    expect(wharf.child.signalCode).toBeNull();
    const digest = digestOf('still works');
    const push = await fetch(`${wharf.url}/v2/abort/me/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      body: 'still works',
    });
    expect(push.status).toBe(201);
    expect(await (await fetch(`${wharf.url}/v2/abort/me/blobs/${digest}`)).text()).toBe('still works');
  });
});
