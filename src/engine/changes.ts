// Dockerfile-style `--change` instructions applied to a container config, as `docker import -c`
// and `docker commit -c` do (moby's dockerfile.BuildFromConfig): only CMD, ENTRYPOINT, ENV, EXPOSE,
// HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME and WORKDIR; `$VAR` expansion from the
// config's Env where Docker expands; JSON (exec) and shell forms as the Dockerfile parser reads them.

/** Docker's HealthConfig; durations in nanoseconds, as Go serialises time.Duration. */
export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/**
 * Docker's container.Config as it appears under `config` in an image config. The key order is
 * Go's struct order and the keys without `omitempty` are always present (null when empty), so a
 * config made here serialises as Docker's does.
 */
export interface ContainerConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts?: Record<string, Record<string, never>>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[] | null;
  Cmd: string[] | null;
  Healthcheck?: HealthConfig;
  ArgsEscaped?: boolean;
  Image: string;
  Volumes: Record<string, Record<string, never>> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  OnBuild: string[] | null;
  Labels: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number;
  Shell?: string[];
}

/** An error in a change, in Docker's wording (the daemon reports it as an invalid parameter). */
export class ChangeError extends Error {
  override readonly name = 'ChangeError';
}

/** `&container.Config{}` as Go serialises it. */
export function emptyContainerConfig(): ContainerConfig {
  return {
    Hostname: '',
    Domainname: '',
    User: '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: null,
    Cmd: null,
    Image: '',
    Volumes: null,
    WorkingDir: '',
    Entrypoint: null,
    OnBuild: null,
    Labels: null,
  };
}

/** The keys in Go's struct order, to rebuild a config with optional keys in their place. */
const KEY_ORDER: readonly (keyof ContainerConfig)[] = [
  'Hostname',
  'Domainname',
  'User',
  'AttachStdin',
  'AttachStdout',
  'AttachStderr',
  'ExposedPorts',
  'Tty',
  'OpenStdin',
  'StdinOnce',
  'Env',
  'Cmd',
  'Healthcheck',
  'ArgsEscaped',
  'Image',
  'Volumes',
  'WorkingDir',
  'Entrypoint',
  'OnBuild',
  'Labels',
  'StopSignal',
  'StopTimeout',
  'Shell',
];

/** Go's encoding/json writes map keys sorted. */
function sortedMap<T>(map: Record<string, T>): Record<string, T> {
  return Object.fromEntries(
    Object.keys(map)
      .sort()
      .map((k) => [k, map[k] as T]),
  );
}

function ordered(config: ContainerConfig): ContainerConfig {
  const out: Record<string, unknown> = {};
  for (const key of KEY_ORDER) {
    const value = config[key];
    if (value === undefined) continue;
    out[key] =
      (key === 'ExposedPorts' || key === 'Volumes' || key === 'Labels') && value !== null
        ? sortedMap(value as Record<string, unknown>)
        : value;
  }
  return out as unknown as ContainerConfig;
}

const VALID = new Set([
  'cmd',
  'entrypoint',
  'healthcheck',
  'env',
  'expose',
  'label',
  'onbuild',
  'stopsignal',
  'user',
  'volume',
  'workdir',
]);

interface Instruction {
  /** Lower-case command, as the Dockerfile parser's node value. */
  command: string;
  /** Everything after the command word (flags included), trimmed. */
  rest: string;
  /** The whole instruction as written. */
  original: string;
}

/** Dockerfile lines: comments and blank lines dropped, `\` continuations joined. */
function instructions(changes: readonly string[]): Instruction[] {
  const lines = changes.join('\n').split('\n');
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of lines) {
    const line = raw.replace(/\r$/, '');
    if (pending === '' && /^\s*(#|$)/.test(line)) continue;
    if (/\\\s*$/.test(line)) {
      pending += line.replace(/\\\s*$/, '');
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full === '') continue;
    const match = /^(\S+)\s*([\s\S]*)$/.exec(full);
    if (!match) continue;
    out.push({ command: (match[1] as string).toLowerCase(), rest: (match[2] as string).trim(), original: full });
  }
  if (pending.trim() !== '') {
    const full = pending.trim();
    const match = /^(\S+)\s*([\s\S]*)$/.exec(full);
    if (match)
      out.push({ command: (match[1] as string).toLowerCase(), rest: (match[2] as string).trim(), original: full });
  }
  return out;
}

/** `["a","b"]` when `text` is a JSON array of strings (the exec form), else undefined. */
function jsonArray(text: string): string[] | undefined {
  if (!text.startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  } catch {
    // not JSON: the shell form
  }
  return undefined;
}

function envMap(env: readonly string[] | null): Map<string, string> {
  const map = new Map<string, string>();
  for (const e of env ?? []) {
    const eq = e.indexOf('=');
    if (eq > 0) map.set(e.slice(0, eq), e.slice(eq + 1));
  }
  return map;
}

/**
 * One word through Docker's shell lexer: quotes removed (`'…'` literal, `"…"` with `\` escapes
 * and expansion), `\x` outside quotes is `x`, `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR:+word}`.
 */
export function expandWord(word: string, env: Map<string, string>): string {
  let out = '';
  let i = 0;
  const variable = (): string => {
    // at '$'
    i++;
    if (word[i] === '{') {
      const end = word.indexOf('}', i);
      if (end === -1) throw new ChangeError(`missing '}' in ${JSON.stringify(word)}`);
      const body = word.slice(i + 1, end);
      i = end + 1;
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::?([-+])([\s\S]*))?$/.exec(body);
      if (!m) throw new ChangeError(`bad substitution: \${${body}}`);
      const name = m[1] as string;
      const value = env.get(name);
      const colon = body.length > name.length && body[name.length] === ':';
      const set = colon ? value !== undefined && value !== '' : value !== undefined;
      if (m[2] === '-') return set ? (value as string) : expandWord(m[3] ?? '', env);
      if (m[2] === '+') return set ? expandWord(m[3] ?? '', env) : '';
      return value ?? '';
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(word.slice(i));
    if (!m) return '$';
    i += m[0].length;
    return env.get(m[0]) ?? '';
  };
  while (i < word.length) {
    const c = word[i] as string;
    if (c === "'") {
      const end = word.indexOf("'", i + 1);
      if (end === -1) throw new ChangeError('unexpected end of statement while looking for matching single-quote');
      out += word.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      let closed = false;
      while (i < word.length) {
        const d = word[i] as string;
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        if (d === '\\' && i + 1 < word.length && '"\\$'.includes(word[i + 1] as string)) {
          out += word[i + 1];
          i += 2;
        } else if (d === '$') out += variable();
        else {
          out += d;
          i++;
        }
      }
      if (!closed) throw new ChangeError('unexpected end of statement while looking for matching double-quote');
    } else if (c === '\\' && i + 1 < word.length) {
      out += word[i + 1];
      i += 2;
    } else if (c === '$') out += variable();
    else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Splits on unquoted whitespace, keeping quotes and escapes for expandWord (buildkit's parseWords). */
function splitWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote === undefined && /\s/.test(c)) {
      if (word !== '') words.push(word);
      word = '';
      continue;
    }
    if (c === '\\' && quote !== "'" && i + 1 < text.length) {
      word += c + text[++i];
      continue;
    }
    if (quote === undefined && (c === '"' || c === "'")) quote = c;
    else if (quote === c) quote = undefined;
    word += c;
  }
  if (word !== '') words.push(word);
  return words;
}

/** `k=v k2="v 2"` or the legacy `k v w` (one pair), as ENV and LABEL read them. */
function nameValues(command: string, rest: string, env: Map<string, string>): [string, string][] {
  const upper = command.toUpperCase();
  if (rest === '') throw new ChangeError(`${upper} requires at least one argument`);
  const words = splitWords(rest);
  const first = words[0] ?? '';
  if (!first.includes('=')) {
    // Legacy form: the first word is the name, the rest of the line the value.
    const value = rest.slice(rest.indexOf(first) + first.length).trim();
    if (value === '') throw new ChangeError(`${upper} must have two arguments`);
    return [[expandWord(first, env), expandWord(value, env)]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq === -1) {
      throw new ChangeError(`Syntax error - can't find = in ${JSON.stringify(w)}. Must be of the form: name=value`);
    }
    if (eq === 0) throw new ChangeError(`${upper} names can not be blank`);
    return [expandWord(w.slice(0, eq), env), expandWord(w.slice(eq + 1), env)];
  });
}

/** The shell form's prefix: the config's Shell, or `/bin/sh -c` on Linux. */
function shellOf(config: ContainerConfig): string[] {
  return config.Shell && config.Shell.length > 0 ? [...config.Shell] : ['/bin/sh', '-c'];
}

/** CMD/ENTRYPOINT arguments: the JSON exec form as is, else the line run by the shell. */
function commandLine(rest: string, config: ContainerConfig): string[] {
  const json = jsonArray(rest);
  if (json) return json;
  return [...shellOf(config), rest];
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's time.ParseDuration (`1m30s`, `500ms`, `0`), in nanoseconds. */
export function parseGoDuration(text: string): number {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null = re.exec(text);
  while (m !== null) {
    total += Number(m[1]) * (DURATION_UNITS[m[2] as string] as number);
    pos = re.lastIndex;
    m = re.exec(text);
  }
  if (pos === 0 || pos !== text.length) throw new ChangeError(`time: invalid duration ${JSON.stringify(text)}`);
  return Math.round(total);
}

function healthcheck(rest: string): HealthConfig {
  const flags = new Map<string, string>();
  let body = rest;
  for (;;) {
    const m = /^--([a-z-]+)=(\S*)\s*/.exec(body);
    if (!m) break;
    flags.set(m[1] as string, m[2] as string);
    body = body.slice(m[0].length);
  }
  for (const f of flags.keys()) {
    if (!['interval', 'timeout', 'start-period', 'start-interval', 'retries'].includes(f)) {
      throw new ChangeError(`Unknown flag: ${f}`);
    }
  }
  const m = /^(\S+)\s*([\s\S]*)$/.exec(body);
  const type = (m?.[1] ?? '').toUpperCase();
  const args = m?.[2] ?? '';
  if (type === 'NONE') {
    if (args !== '' || flags.size > 0) throw new ChangeError('HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  if (type !== 'CMD') throw new ChangeError(`Unknown type ${JSON.stringify(type)} in HEALTHCHECK (try CMD)`);
  if (args === '') throw new ChangeError('Missing command after HEALTHCHECK CMD');
  const json = jsonArray(args);
  const check: HealthConfig = { Test: json ? ['CMD', ...json] : ['CMD-SHELL', args] };
  const duration = (flag: string, key: 'Interval' | 'Timeout' | 'StartPeriod' | 'StartInterval') => {
    const text = flags.get(flag);
    if (text === undefined) return;
    const ns = parseGoDuration(text);
    if (ns !== 0 && ns < 1e6) throw new ChangeError(`Interval ${JSON.stringify(flag)} cannot be less than 1ms`);
    if (ns !== 0) check[key] = ns;
  };
  duration('interval', 'Interval');
  duration('timeout', 'Timeout');
  duration('start-period', 'StartPeriod');
  duration('start-interval', 'StartInterval');
  const retries = flags.get('retries');
  if (retries !== undefined) {
    if (!/^-?\d+$/.test(retries))
      throw new ChangeError(`strconv.ParseInt: parsing ${JSON.stringify(retries)}: invalid syntax`);
    const n = Number(retries);
    if (n < 0) throw new ChangeError('--retries cannot be negative');
    if (n !== 0) check.Retries = n;
  }
  return check;
}

const SIGNALS = new Set([
  'ABRT',
  'ALRM',
  'BUS',
  'CHLD',
  'CLD',
  'CONT',
  'FPE',
  'HUP',
  'ILL',
  'INT',
  'IO',
  'IOT',
  'KILL',
  'PIPE',
  'POLL',
  'PROF',
  'PWR',
  'QUIT',
  'SEGV',
  'STKFLT',
  'STOP',
  'SYS',
  'TERM',
  'TRAP',
  'TSTP',
  'TTIN',
  'TTOU',
  'URG',
  'USR1',
  'USR2',
  'VTALRM',
  'WINCH',
  'XCPU',
  'XFSZ',
]);

/** moby/sys/signal.ParseSignal's acceptance: a number, a name, SIGNAME or SIGRTMIN+n. */
function checkSignal(sig: string): void {
  if (/^\d+$/.test(sig) && Number(sig) > 0 && Number(sig) <= 64) return;
  const name = sig.toUpperCase().replace(/^SIG/, '');
  if (SIGNALS.has(name) || /^RTMIN(\+\d+)?$|^RTMAX(-\d+)?$/.test(name)) return;
  throw new ChangeError(`Invalid signal: ${sig}`);
}

/** nat.ParsePortSpecs for EXPOSE: `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`… */
function exposedPorts(spec: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/([A-Za-z]+))?$/.exec(spec);
  if (!m) throw new ChangeError(`invalid containerPort: ${spec.split('/')[0]}`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new ChangeError(`invalid proto: ${m[3]}`);
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start > 65535 || end > 65535 || end < start) throw new ChangeError(`invalid containerPort: ${spec}`);
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  return out;
}

/** Go's filepath.Clean for absolute Unix paths. */
function cleanPath(path: string): string {
  const parts: string[] = [];
  for (const c of path.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') parts.pop();
    else parts.push(c);
  }
  return `/${parts.join('/')}`;
}

/** Checks every change's command (Docker does this before applying any). */
export function validateChanges(changes: readonly string[]): void {
  for (const ins of instructions(changes)) {
    if (!VALID.has(ins.command)) throw new ChangeError(`${ins.command} is not a valid change command`);
  }
}

/** Applies `changes` to a copy of `base` and returns it (keys in Docker's order). */
export function applyChanges(base: ContainerConfig, changes: readonly string[]): ContainerConfig {
  const list = instructions(changes);
  for (const ins of list) {
    if (!VALID.has(ins.command)) throw new ChangeError(`${ins.command} is not a valid change command`);
  }
  const config: ContainerConfig = structuredClone(base);
  let cmdSet = false;
  for (const { command, rest, original } of list) {
    const env = envMap(config.Env);
    const upper = command.toUpperCase();
    switch (command) {
      case 'cmd':
        if (rest === '') throw new ChangeError('CMD requires at least one argument');
        config.Cmd = commandLine(rest, config);
        cmdSet = true;
        break;
      case 'entrypoint':
        if (rest === '') throw new ChangeError('ENTRYPOINT requires at least one argument');
        config.Entrypoint = commandLine(rest, config);
        // A new ENTRYPOINT drops the inherited CMD unless CMD was given too (before it).
        if (!cmdSet) config.Cmd = null;
        break;
      case 'env': {
        const list2 = [...(config.Env ?? [])];
        for (const [k, v] of nameValues(command, rest, env)) {
          const i = list2.findIndex((e) => e.slice(0, e.indexOf('=')) === k);
          if (i === -1) list2.push(`${k}=${v}`);
          else list2[i] = `${k}=${v}`;
          env.set(k, v);
        }
        config.Env = list2;
        break;
      }
      case 'label': {
        const labels = { ...(config.Labels ?? {}) };
        for (const [k, v] of nameValues(command, rest, env)) {
          if (k === '') throw new ChangeError('LABEL names can not be blank');
          labels[k] = v;
        }
        config.Labels = labels;
        break;
      }
      case 'expose': {
        if (rest === '') throw new ChangeError('EXPOSE requires at least one argument');
        const ports = { ...(config.ExposedPorts ?? {}) };
        for (const w of splitWords(rest)) {
          for (const spec of expandWord(w, env)
            .split(/\s+/)
            .filter((s) => s !== '')) {
            for (const p of exposedPorts(spec)) ports[p] = {};
          }
        }
        config.ExposedPorts = ports;
        break;
      }
      case 'volume': {
        if (rest === '') throw new ChangeError('VOLUME requires at least one argument');
        const json = jsonArray(rest);
        const paths = json ?? splitWords(rest).map((w) => expandWord(w, env));
        const volumes = { ...(config.Volumes ?? {}) };
        for (const p of paths) {
          const v = p.trim();
          if (v === '') throw new ChangeError('VOLUME specified can not be an empty string');
          volumes[v] = {};
        }
        config.Volumes = volumes;
        break;
      }
      case 'user':
        if (rest === '') throw new ChangeError('USER requires exactly one argument');
        config.User = expandWord(rest, env);
        break;
      case 'workdir': {
        if (rest === '') throw new ChangeError('WORKDIR requires exactly one argument');
        const dir = expandWord(rest, env);
        config.WorkingDir = dir.startsWith('/') ? cleanPath(dir) : cleanPath(`${config.WorkingDir || '/'}/${dir}`);
        break;
      }
      case 'stopsignal': {
        if (rest === '') throw new ChangeError('STOPSIGNAL requires exactly one argument');
        const sig = expandWord(rest, env);
        checkSignal(sig);
        config.StopSignal = sig;
        break;
      }
      case 'onbuild': {
        if (rest === '') throw new ChangeError('ONBUILD requires at least one argument');
        const trigger = (rest.split(/\s+/)[0] ?? '').toUpperCase();
        if (trigger === 'ONBUILD') throw new ChangeError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
        if (trigger === 'FROM' || trigger === 'MAINTAINER') {
          throw new ChangeError(`${trigger} isn't allowed as an ONBUILD trigger`);
        }
        config.OnBuild = [...(config.OnBuild ?? []), original.replace(/^\s*ONBUILD\s*/i, '')];
        break;
      }
      case 'healthcheck':
        config.Healthcheck = healthcheck(rest);
        break;
      default:
        throw new ChangeError(`${upper} is not a valid change command`);
    }
  }
  return ordered(config);
}
