// The attach protocol between a container's monitor and `wharf run/start -a/attach`, over the
// monitor's unix socket. Frames: 1 byte type, 4 bytes big-endian length, payload.
import type { Socket } from 'node:net';

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
