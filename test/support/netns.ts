// A test host of a test's own: a network namespace joined to this one by a veth pair. Tests may
// talk only to loopback or to test hosts they create themselves; this is how they get a host that
// is not on loopback (see test/interop/tls.test.ts and test/client/transport.test.ts).
import { spawnSync } from 'node:child_process';
import { type RunResult, run, runOk, sleep, whichTool } from './tools.js';

/** Runs every step, even after one fails; then throws the first failure. */
export async function allSteps(steps: Array<() => Promise<unknown>>): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length > 0) throw errors[0];
}

/** Which test host: `tag` names it, `pid` and `slotOffset` pick its network. */
export interface NetnsHostOptions {
  /** Part of the namespace and interface names (`wharf-TAG-PID`, `wTAGPIDh`): 1 to 6 of [a-z0-9]. */
  tag: string;
  /** Default: this process. */
  pid?: number;
  /** Added to the pid when picking the /30, so that hosts with other tags get other networks. Default 0. */
  slotOffset?: number;
}

/**
 * A test host of this test's own: a network namespace joined to this one by a veth pair on a
 * /30 of 10.231.0.0/16 picked from the pid (so parallel runs do not clash). This side gets
 * the .1 address, the namespace the .2 one (plus its own `lo`). Only `create()` and
 * `remove()` have effects; remove() undoes whatever create() got done, and a process exit
 * handler does the same if the test process ends without calling it.
 */
export class NetnsHost {
  /** Namespace name, for `ip netns`. */
  readonly name: string;
  /** The veth end in this namespace (interface names: at most 15 characters). */
  readonly hostVeth: string;
  /** Its peer, inside the namespace. */
  readonly nsVeth: string;
  /** This side's address. */
  readonly hostIp: string;
  /** The test host's address: what clients connect to. */
  readonly ip: string;
  /** The /30 both are on. */
  readonly subnet: string;
  private readonly ipBin: string;
  private nsCreated = false;
  private vethCreated = false;
  private readonly onExit = (): void => this.removeSync();

  constructor({ tag, pid = process.pid, slotOffset = 0 }: NetnsHostOptions) {
    if (!/^[a-z0-9]{1,6}$/.test(tag)) throw new Error(`bad test host tag ${JSON.stringify(tag)}`);
    this.name = `wharf-${tag}-${pid}`;
    this.hostVeth = `w${tag}${pid}h`;
    this.nsVeth = `w${tag}${pid}n`;
    if (this.hostVeth.length > 15) throw new Error(`interface name ${this.hostVeth} is longer than 15 characters`);
    // 16384 /30 networks in 10.231.0.0/16: 64 per third octet.
    const slot = (pid + slotOffset) % 16_384;
    const base = `10.231.${slot >> 6}`;
    const first = (slot & 63) * 4;
    this.subnet = `${base}.${first}/30`;
    this.hostIp = `${base}.${first + 1}`;
    this.ip = `${base}.${first + 2}`;
    this.ipBin = whichTool('ip') ?? 'ip';
  }

  /** Command prefix that runs a program inside the namespace (`ip netns exec` execs it: same pid). */
  get wrap(): string[] {
    return [this.ipBin, 'netns', 'exec', this.name];
  }

  private ipOk(args: string[]): Promise<RunResult> {
    return runOk(this.ipBin, args, { timeoutMs: 30_000 });
  }

  async create(): Promise<void> {
    const inUse = (await this.ipOk(['-4', '-o', 'addr', 'show', 'to', this.subnet])).stdout.trim();
    if (inUse !== '') throw new Error(`test host network ${this.subnet} is already in use here:\n${inUse}`);
    process.on('exit', this.onExit);
    await this.ipOk(['netns', 'add', this.name]);
    this.nsCreated = true;
    await this.ipOk(['link', 'add', this.hostVeth, 'type', 'veth', 'peer', 'name', this.nsVeth, 'netns', this.name]);
    this.vethCreated = true;
    await this.ipOk(['addr', 'add', `${this.hostIp}/30`, 'dev', this.hostVeth]);
    await this.ipOk(['link', 'set', this.hostVeth, 'up']);
    await this.ipOk(['-n', this.name, 'addr', 'add', `${this.ip}/30`, 'dev', this.nsVeth]);
    await this.ipOk(['-n', this.name, 'link', 'set', this.nsVeth, 'up']);
    await this.ipOk(['-n', this.name, 'link', 'set', 'lo', 'up']);
  }

  /** PIDs of the processes running in the namespace. */
  private async pids(): Promise<number[]> {
    const r = await run(this.ipBin, ['netns', 'pids', this.name], { timeoutMs: 30_000 });
    return r.code === 0 ? parsePids(r.stdout) : [];
  }

  /**
   * Kills what still runs in the namespace, deletes the veth pair, then the namespace: each step
   * is tried even if an earlier one failed, and only what create() made is deleted.
   */
  async remove(): Promise<void> {
    await allSteps([
      async () => {
        if (!this.nsCreated) return;
        const deadline = Date.now() + 10_000;
        for (let pids = await this.pids(); pids.length > 0; pids = await this.pids()) {
          if (Date.now() > deadline) throw new Error(`processes ${pids.join(', ')} in ${this.name} do not die`);
          for (const pid of pids) killQuietly(pid);
          await sleep(100);
        }
      },
      // Deleting one end deletes both, at once (a namespace is torn down asynchronously).
      async () => {
        if (!this.vethCreated) return;
        await this.ipOk(['link', 'del', this.hostVeth]);
        this.vethCreated = false;
      },
      async () => {
        if (!this.nsCreated) return;
        await this.ipOk(['netns', 'del', this.name]);
        this.nsCreated = false;
      },
    ]);
    // Kept while anything is left, as a last try at exit.
    process.off('exit', this.onExit);
  }

  /** remove() for a process exit handler: synchronous, best effort. */
  private removeSync(): void {
    const ip = (args: string[]) => spawnSync(this.ipBin, args, { encoding: 'utf8', timeout: 10_000 });
    if (this.nsCreated) for (const pid of parsePids(ip(['netns', 'pids', this.name]).stdout ?? '')) killQuietly(pid);
    if (this.vethCreated) ip(['link', 'del', this.hostVeth]);
    if (this.nsCreated) ip(['netns', 'del', this.name]);
  }
}

function parsePids(text: string): number[] {
  return text
    .split('\n')
    .map((l) => Number.parseInt(l, 10))
    .filter((n) => Number.isInteger(n) && n > 0);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
