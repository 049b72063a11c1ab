// The attach protocol between a container's monitor and `wharf run/start -a/attach`, over the
// monitor's unix socket. Frames: 1 byte type, 4 bytes big-endian length, payload.
import { mkdir, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';

export const FrameType = {
  /** client → monitor: bytes for the container's stdin */
  stdin: 0,
  /** monitor → client: container output */
  stdout: 1,
  stderr: 2,
  /** monitor → client: the container exited; payload is the exit code in decimal */
  exit: 3,
  /** client → monitor: no more stdin */
  stdinEnd: 4,
  /** monitor → client: the container process started */
  started: 5,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export function frame(type: FrameType, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(5);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

/** Calls `onFrame` for every complete frame that arrives on `socket`. */
export function readFrames(socket: Socket, onFrame: (type: FrameType, payload: Buffer) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 5) {
      const length = pending.readUInt32BE(1);
      if (pending.length < 5 + length) break;
      onFrame(pending.readUInt8(0) as FrameType, pending.subarray(5, 5 + length));
      pending = pending.subarray(5 + length);
    }
  });
}

/** The monitor's side: output to every attached client, their input to the container. */
export class AttachServer {
  private readonly clients = new Set<Socket>();
  private readonly server: Server;
  private stdinTarget: ((data: Buffer | null) => void) | undefined;
  /** Input that arrived before the container's process was there to take it. */
  private stdinQueue: (Buffer | null)[] = [];
  readonly firstClient: Promise<void>;

  constructor(private readonly path: string) {
    let resolveFirst: () => void = () => {};
    this.firstClient = new Promise((resolve) => {
      resolveFirst = resolve;
    });
    this.server = createServer((socket) => {
      this.clients.add(socket);
      resolveFirst();
      socket.on('close', () => this.clients.delete(socket));
      socket.on('error', () => this.clients.delete(socket));
      readFrames(socket, (type, payload) => {
        if (type === FrameType.stdin) this.input(Buffer.from(payload));
        else if (type === FrameType.stdinEnd) this.input(null);
      });
    });
  }

  async listen(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await unlink(this.path).catch(() => {});
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.path, () => resolve());
    });
  }

  private input(data: Buffer | null): void {
    if (this.stdinTarget) this.stdinTarget(data);
    else this.stdinQueue.push(data);
  }

  /** Where stdin goes (null: end of input); input queued meanwhile is delivered first. */
  setStdin(target: ((data: Buffer | null) => void) | undefined): void {
    this.stdinTarget = target;
    if (!target) return;
    for (const data of this.stdinQueue.splice(0)) target(data);
  }

  send(type: FrameType, payload?: Buffer | string): void {
    const bytes = frame(type, payload);
    for (const c of this.clients) c.write(bytes);
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.end();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await unlink(this.path).catch(() => {});
  }
}
