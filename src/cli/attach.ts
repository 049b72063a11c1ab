// Attaching this terminal (or these pipes) to a container through its monitor's socket.
import { connect, type Socket } from 'node:net';
import { FrameType, frame, readFrames } from '../runtime/attach.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Connects to the monitor's socket, retrying while the monitor starts listening. */
export async function connectAttach(path: string, timeoutMs = 10_000): Promise<Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const socket = connect(path);
        socket.once('connect', () => resolve(socket));
        socket.once('error', reject);
      });
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`cannot attach to the container: ${(err as Error).message}`);
      await sleep(20);
    }
  }
}

export interface AttachOptions {
  /** Forward this process's stdin. */
  stdin: boolean;
  /** The container has a terminal: stdin in raw mode, output as one stream. */
  tty: boolean;
}

/**
 * Pipes stdio through the socket until the container exits; resolves with its exit code, or
 * undefined when the socket closed without one (the monitor died).
 */
export function attachStdio(socket: Socket, options: AttachOptions): Promise<number | undefined> {
  return new Promise((resolve) => {
    let exitCode: number | undefined;
    const input = process.stdin;
    const raw = options.tty && options.stdin && input.isTTY;
    const onInput = (chunk: Buffer) => socket.write(frame(FrameType.stdin, chunk));
    const onEnd = () => socket.write(frame(FrameType.stdinEnd));
    const cleanup = () => {
      if (options.stdin) {
        input.off('data', onInput);
        input.off('end', onEnd);
        if (raw) input.setRawMode(false);
        input.pause();
      }
    };
    if (options.stdin) {
      if (raw) input.setRawMode(true);
      input.on('data', onInput);
      input.on('end', onEnd);
      input.resume();
    }
    readFrames(socket, (type, payload) => {
      if (type === FrameType.stdout) process.stdout.write(payload);
      else if (type === FrameType.stderr) process.stderr.write(payload);
      else if (type === FrameType.exit) {
        exitCode = Number(payload.toString()) || 0;
        socket.end();
      }
    });
    socket.on('close', () => {
      cleanup();
      resolve(exitCode);
    });
    socket.on('error', () => {});
  });
}
