// `wharf completion bash|fish` as a user loads it: the script sourced in bash (completions asked
// the way bash asks them: COMP_WORDS/COMP_CWORD, then _wharf) and in fish (`complete -C`),
// `wharf` on PATH reading the store through WHARF_ROOT.
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { importBusybox, wharfIn } from '../support/busybox.js';
import { WHARF_BIN } from '../support/server.js';
import { interopDescribe, removeTmpDir, run, runOk, tmpDir } from '../support/tools.js';

/** A store with two tagged images and `wharf` on a PATH of its own (set up in beforeAll). */
function useCompletionStore(shell: 'bash' | 'fish') {
  const state = { dir: '', root: '', script: '', bin: '' };
  beforeAll(async () => {
    const dir = await tmpDir(`wharf-completion-${shell}`);
    const root = join(dir, 'root');
    const bin = join(dir, 'bin');
    await runOk('mkdir', ['-p', bin]);
    await writeFile(
      join(bin, 'wharf'),
      `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(WHARF_BIN)} "$@"\n`,
    );
    await chmod(join(bin, 'wharf'), 0o755);
    await importBusybox(root, 'busybox:latest');
    await wharfIn(root).ok(['tag', 'busybox', 'example.com/team/tool:1.2']);
    const script = join(dir, `wharf.${shell}`);
    await writeFile(script, (await runOk(process.execPath, [WHARF_BIN, 'completion', shell])).stdout);
    Object.assign(state, { dir, root, script, bin });
  }, 60_000);
  afterAll(async () => {
    if (state.dir) await removeTmpDir(state.dir);
  });
  return state;
}

interopDescribe('wharf completion fish', ['fish', 'busybox'], () => {
  const store = useCompletionStore('fish');
  /** What fish offers for the command line `line` (`complete -C`), descriptions cut off. */
  async function complete(line: string): Promise<string[]> {
    const env = { ...process.env, PATH: `${store.bin}:${process.env.PATH ?? ''}`, WHARF_ROOT: store.root };
    const program = `source ${JSON.stringify(store.script)}; complete -C ${JSON.stringify(line)}`;
    const r = await run('fish', ['--no-config', '-c', program], { env, timeoutMs: 30_000 });
    expect(r.stderr).toBe('');
    return r.stdout
      .split('\n')
      .filter((w) => w !== '')
      .map((w) => w.split('\t')[0] ?? '')
      .sort();
  }

  it('completes image names, subcommands and flags', async () => {
    expect(await complete('wharf rmi ')).toEqual(['busybox:latest', 'example.com/team/tool:1.2']);
    expect(await complete('wharf image rm ')).toEqual(['busybox:latest', 'example.com/team/tool:1.2']);
    expect(await complete('wharf system ')).toEqual(['df']);
    expect(await complete('wharf images --fo')).toEqual(['--format']);
    expect(await complete('wharf ')).not.toContain('container-monitor');
  });
});

interopDescribe('wharf completion', ['bash', 'busybox'], () => {
  const store = useCompletionStore('bash');
  let root = '';
  let script = '';
  let bin = '';

  beforeAll(() => {
    ({ root, script, bin } = store);
  });

  /** The completions bash offers for the command line `line` (the cursor at its end). */
  async function complete(line: string): Promise<string[]> {
    const words = line.split(' ');
    const program = [
      `source ${JSON.stringify(script)}`,
      `COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(' ')})`,
      `COMP_CWORD=${words.length - 1}`,
      `COMP_LINE=${JSON.stringify(line)}`,
      'COMPREPLY=()',
      '_wharf',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: bash, not a template
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join('\n');
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, WHARF_ROOT: root };
    const r = await run('bash', ['--norc', '--noprofile', '-c', program], { env, timeoutMs: 30_000 });
    expect(r.stderr).toBe('');
    return r.stdout
      .split('\n')
      .filter((w) => w !== '')
      .sort();
  }

  it('completes image names after `wharf rmi ` and `wharf image rm `, from the store', async () => {
    expect(await complete('wharf rmi ')).toEqual(['busybox:latest', 'example.com/team/tool:1.2']);
    expect(await complete('wharf image rm ex')).toEqual(['example.com/team/tool:1.2']);
    // After a `:`, bash's word breaks: only the rest is offered.
    expect(await complete('wharf history busybox:')).toEqual(['latest']);
    // Removed from the store: no longer offered.
    await wharfIn(root).ok(['rmi', 'example.com/team/tool:1.2']);
    expect(await complete('wharf rmi ')).toEqual(['busybox:latest']);
  });

  it('completes commands, subcommands and flags; internal commands are not offered', async () => {
    const top = await complete('wharf ');
    expect(top).toEqual(expect.arrayContaining(['images', 'rmi', 'run', 'ps', 'system', 'completion', 'volume']));
    expect(top).not.toContain('container-monitor');
    expect(top).not.toContain('__complete');
    const help = await runOk(process.execPath, [WHARF_BIN, '--help']);
    expect(help.stdout).toMatch(/^ {2}completion /m);
    expect(help.stdout).not.toMatch(/container-monitor|__complete/);
    expect(await complete('wharf sys')).toEqual(['system']);
    expect(await complete('wharf system ')).toEqual(['df']);
    expect(await complete('wharf images --fo')).toEqual(['--format']);
    expect(await complete('wharf system df -')).toEqual(expect.arrayContaining(['-v', '--verbose', '--format']));
  });

  it('prints zsh and fish scripts, and refuses another shell', async () => {
    const zsh = await runOk(process.execPath, [WHARF_BIN, 'completion', 'zsh']);
    expect(zsh.stdout).toMatch(/^#compdef wharf\n/);
    expect(zsh.stdout).toContain('complete -F _wharf wharf');
    const fish = await runOk(process.execPath, [WHARF_BIN, 'completion', 'fish']);
    expect(fish.stdout).toContain(
      "complete -c wharf -n '__fish_seen_subcommand_from rmi' -a '(wharf __complete images)'",
    );
    const bad = await run(process.execPath, [WHARF_BIN, 'completion', 'tcsh']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('wharf: unsupported shell "tcsh": bash, zsh or fish\n');
  });
});
