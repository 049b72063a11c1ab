// `wharf commit` and `wharf export` on real containers (runc), checked against the real Docker
// engine: SCENARIOS §2 (commit with author and message, a second commit, default tag), whiteouts
// and opaque directories in the layer, `docker load` of what `wharf save` writes, the export →
// import round trip, the empty diff, and the same commit made by Docker and by Wharf.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { readSavedImage, type TarEntryInfo, tarEntries } from '../support/busybox.js';
import { CHANGES_SCRIPT, useBusyboxStore, useDockerWithBusybox } from '../support/containers.js';
import { interopDescribe, interopIt, run, sleep } from '../support/tools.js';

const TIMEOUT = 240_000;

const names = (entries: TarEntryInfo[]) => entries.map((e) => e.name);
/** What each side's init layer puts in a container (Docker's has more): not part of the comparison. */
const INIT = /^(\.dockerenv|dev\/.*|proc\/|sys\/|etc\/(mtab|hosts|hostname|resolv\.conf))$/;
const withoutInit = (list: string[]) => list.filter((n) => !INIT.test(n.replace(/^\.\//, ''))).sort();

interopDescribe('wharf commit and export', ['runc', 'busybox', 'getfattr'], () => {
  const store = useBusyboxStore('wharf-commit', TIMEOUT);
  const { wharf } = store;
  let n = 0;
  const scratch = () => join(store.work, `s${++n}`);

  /** The image as `wharf save` writes it. */
  async function saved(ref: string) {
    const file = `${scratch()}.tar`;
    await wharf.ok(['save', '-o', file, ref]);
    return readSavedImage(file, scratch());
  }

  /** The image's top layer entries (from `wharf save`). */
  async function topLayer(ref: string): Promise<TarEntryInfo[]> {
    const image = await saved(ref);
    return image.layers[image.layers.length - 1] ?? [];
  }

  /**
   * `wharf run -d --name NAME OPTIONS busybox sh -c SCRIPT`, then waits (at most `tries` times
   * 100 ms) until `wharf diff` shows `line`; returns the container's ID.
   */
  async function runDetached(name: string, options: string[], script: string, line: string, tries: number) {
    const id = (await wharf.ok(['run', '-d', '--name', name, ...options, 'busybox', 'sh', '-c', script])).trim();
    for (let i = 0; i < tries && !(await wharf.ok(['diff', name])).includes(line); i++) await sleep(100);
    return id;
  }

  it(
    'SCENARIOS §2: commit -a -m makes a one-layer child with its history; a second commit on top',
    async () => {
      await wharf.ok(['run', '--name', 'commit_test', 'busybox', 'sh', '-c', 'echo test_first! >> first']);
      const first = await wharf.ok([
        'commit',
        '-a',
        'chansoo',
        '-m',
        'my first commit',
        'commit_test',
        'commit_test:first',
      ]);
      expect(first).toMatch(/^sha256:[0-9a-f]{64}\n$/);
      const firstId = first.trim();

      const inspect = JSON.parse(await wharf.ok(['inspect', 'commit_test:first'])) as {
        Id: string;
        Parent: string;
        Author: string;
        Comment: string;
        Config: { Cmd: string[] };
        RootFS: { Layers: string[] };
      }[];
      const base = JSON.parse(await wharf.ok(['inspect', 'busybox'])) as { RootFS: { Layers: string[] } }[];
      expect(inspect[0]).toMatchObject({
        Id: firstId,
        Parent: store.busyboxId,
        Author: 'chansoo',
        Comment: 'my first commit',
      });
      expect(inspect[0]?.RootFS.Layers.length).toBe((base[0]?.RootFS.Layers.length ?? 0) + 1);
      expect(inspect[0]?.RootFS.Layers.slice(0, -1)).toEqual(base[0]?.RootFS.Layers);
      expect(inspect[0]?.Config.Cmd).toEqual(['sh', '-c', 'echo test_first! >> first']);

      const history = (await wharf.ok(['history', 'commit_test:first'])).trimEnd().split('\n');
      expect(history[0]).toMatch(/^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
      expect(history[1]).toMatch(
        new RegExp(`^${firstId.slice(7, 19)}\\s+.+ ago\\s+sh -c echo test_first! >> first\\s+12B\\s+my first commit$`),
      );
      expect(history[2]).toMatch(new RegExp(`^${store.busyboxId.slice(7, 19)}\\s+`));
      expect(history).toHaveLength(3);
      expect(await topLayer('commit_test:first')).toMatchObject([{ name: 'first', type: 'file', size: 12 }]);

      await wharf.ok(['run', '--name', 'commit_test2', 'commit_test:first', 'sh', '-c', 'echo test_second! >> second']);
      const second = (
        await wharf.ok(['commit', '-a', 'chansoo', '-m', 'my second commit', 'commit_test2', 'commit_test:second'])
      ).trim();
      const history2 = (await wharf.ok(['history', 'commit_test:second'])).trimEnd().split('\n');
      expect(history2).toHaveLength(4);
      expect(history2[1]).toMatch(new RegExp(`^${second.slice(7, 19)}\\s+.*\\s+13B\\s+my second commit$`));
      expect(history2[2]).toMatch(new RegExp(`^${firstId.slice(7, 19)}\\s+.*\\s+12B\\s+my first commit$`));

      // No tag means latest; no repository at all means an untagged image.
      await wharf.ok(['commit', 'commit_test2', 'commit_test']);
      const images = await wharf.ok(['images', '--format', '{{.Repository}}:{{.Tag}}']);
      expect(images.split('\n')).toEqual(expect.arrayContaining(['commit_test:latest', 'commit_test:second']));
      const untagged = (await wharf.ok(['commit', 'commit_test2'])).trim();
      expect(await wharf.ok(['images', '-q', '--no-trunc', '--filter', 'dangling=true'])).toContain(untagged);
    },
    TIMEOUT,
  );

  it(
    'a deleted file becomes a whiteout, a recreated directory an opaque one; the new image runs without them',
    async () => {
      await wharf.ok(['run', '--name', 'del', 'busybox', 'sh', '-c', 'rm /bin/ls; mkdir /d; touch /d/old1 /d/old2']);
      await wharf.ok(['commit', 'del', 'del:1']);
      expect(names(await topLayer('del:1'))).toEqual(['bin/', 'bin/.wh.ls', 'd/', 'd/old1', 'd/old2']);
      const whiteout = (await topLayer('del:1')).find((e) => e.name === 'bin/.wh.ls');
      expect(whiteout).toMatchObject({ type: 'file', size: 0, mode: 0o600 });
      const check = '[ -e /bin/ls ] && echo present || echo gone; cd /d && echo *';
      expect(await wharf.ok(['run', '--rm', 'del:1', 'sh', '-c', check])).toBe('gone\nold1 old2\n');

      await wharf.ok(['run', '--name', 'opq', 'del:1', 'sh', '-c', 'rm -rf /d && mkdir /d && touch /d/new']);
      await wharf.ok(['commit', 'opq', 'del:2']);
      expect(names(await topLayer('del:2'))).toEqual(['d/', 'd/.wh..wh..opq', 'd/new']);
      expect(await wharf.ok(['run', '--rm', 'del:2', 'sh', '-c', 'cd /d && echo *'])).toBe('new\n');
    },
    TIMEOUT,
  );

  it(
    'an empty diff adds no layer (empty_layer in the history, the parent’s diff IDs)',
    async () => {
      await wharf.ok(['run', '--name', 'nothing', 'busybox', 'true']);
      await wharf.ok(['commit', '-m', 'nothing changed', 'nothing', 'empty:1']);
      await wharf.ok(['create', '--name', 'never-started', 'busybox']);
      await wharf.ok(['commit', 'never-started', 'empty:2']);
      const base = await saved('busybox');
      for (const ref of ['empty:1', 'empty:2']) {
        const image = await saved(ref);
        expect(image.config.rootfs.diff_ids).toEqual(base.config.rootfs.diff_ids);
        expect(image.config.history?.at(-1)?.empty_layer).toBe(true);
        expect(image.config.history).toHaveLength((base.config.history?.length ?? 0) + 1);
      }
      expect((await saved('empty:1')).config.history?.at(-1)?.comment).toBe('nothing changed');
    },
    TIMEOUT,
  );

  it(
    'commits a running container (paused meanwhile), applies -c changes, never includes volumes',
    async () => {
      const script = 'echo secret > /data/s; echo y > /y; sleep 60';
      const id = await runDetached('live', ['-v', 'commitvol:/data'], script, 'A /y', 50);
      await wharf.ok(['commit', '-c', 'ENV FOO=bar', '-c', 'CMD ["/bin/sh", "-c", "echo $FOO"]', 'live', 'live:1']);
      // Still running (resumed) after the commit.
      expect(await wharf.ok(['ps', '-q', '--no-trunc'])).toContain(id);
      expect(names(await topLayer('live:1'))).toEqual(['y']);
      expect(await wharf.ok(['run', '--rm', 'live:1'])).toBe('bar\n');
      await wharf.ok(['commit', '--no-pause', 'live', 'live:2']);
      expect(names(await topLayer('live:2'))).toEqual(['y']);

      // Export: the volume's mount point is there, its contents are not.
      const exported = `${scratch()}.tar`;
      await wharf.ok(['export', '-o', exported, 'live']);
      const list = names(await tarEntries(exported));
      expect(list).toEqual(expect.arrayContaining(['data/', 'y', 'bin/busybox']));
      expect(list.filter((e) => e.startsWith('data/') && e !== 'data/')).toEqual([]);
      await wharf.ok(['rm', '-f', 'live']);
    },
    TIMEOUT,
  );

  it(
    'freezes the container while its layer is read, and thaws it after (not with --no-pause)',
    async () => {
      const script = 'dd if=/dev/zero of=/big bs=1M count=150 2>/dev/null; echo done > /done; sleep 60';
      const id = await runDetached('frozen', [], script, 'A /done', 300);
      /** The runc states seen while `commit` runs. */
      const statesDuring = async (args: string[]) => {
        const seen = new Set<string>();
        let done = false;
        const commit = wharf.ok(['commit', ...args, 'frozen']).finally(() => {
          done = true;
        });
        while (!done) {
          const r = await run('runc', ['--root', join(store.root, 'runc'), 'state', id]);
          if (r.code === 0) seen.add((JSON.parse(r.stdout) as { status: string }).status);
        }
        await commit;
        return seen;
      };
      expect(await statesDuring([])).toContain('paused');
      expect(JSON.parse((await run('runc', ['--root', join(store.root, 'runc'), 'state', id])).stdout).status).toBe(
        'running',
      );
      expect(await statesDuring(['--no-pause'])).not.toContain('paused');
      await wharf.ok(['rm', '-f', 'frozen']);
    },
    TIMEOUT,
  );

  it(
    'export then import: one layer with the container’s files, and a container of it exports the same',
    async () => {
      await wharf.ok(['run', '--name', 'exp', 'busybox', 'sh', '-c', 'rm /bin/ls; mkdir -p /x/y; echo z > /x/y/z']);
      const file = `${scratch()}.tar`;
      await wharf.ok(['export', '-o', file, 'exp']);
      const exported = names(await tarEntries(file));
      expect(exported).toEqual(expect.arrayContaining(['x/', 'x/y/', 'x/y/z', 'bin/busybox']));
      expect(exported).not.toContain('bin/ls');
      expect(exported.some((e) => e.includes('.wh.'))).toBe(false);
      await wharf.ok(['import', file, 'roundtrip:1']);
      const image = await saved('roundtrip:1');
      expect(image.layers).toHaveLength(1);
      expect(names(image.layers[0] ?? [])).toEqual(exported);
      await wharf.ok(['create', '--name', 'exp2', 'roundtrip:1', '/bin/sh']);
      const again = `${scratch()}.tar`;
      await wharf.ok(['export', '-o', again, 'exp2']);
      expect(names(await tarEntries(again))).toEqual(exported);
      // The never-started container's rootfs was mounted for the export only.
      const id = (await wharf.ok(['ps', '-aq', '--no-trunc', '--filter', 'name=exp2'])).trim();
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(id);
      // Streamed to stdout too.
      const piped = await wharf.run(['export', 'exp2']);
      expect(piped.code).toBe(0);
      expect(piped.stdout.length).toBeGreaterThan(1_000_000);
    },
    TIMEOUT,
  );

  describe('errors', () => {
    it('in Docker’s words', async () => {
      const noSuch = await wharf.run(['commit', 'nope', 'x:1']);
      expect(noSuch).toMatchObject({ code: 1, stderr: 'Error response from daemon: No such container: nope\n' });
      await wharf.ok(['create', '--name', 'errs', 'busybox']);
      const digest = await wharf.run(['commit', 'errs', `x@sha256:${'a'.repeat(64)}`]);
      expect(digest).toMatchObject({ code: 1, stderr: 'refusing to create a tag with a digest reference\n' });
      const upper = await wharf.run(['commit', 'errs', 'Foo']);
      expect(upper.stderr).toBe('invalid reference format: repository name (library/Foo) must be lowercase\n');
      const change = await wharf.run(['commit', '-c', 'RUN echo', 'errs', 'x:1']);
      // The exact wording is compared with Docker's below.
      expect(change).toMatchObject({
        code: 1,
        stderr: expect.stringMatching(/^Error response from daemon: run is not a valid change command\n$/i),
      });
      const both = await wharf.run(['commit', '--pause', '--no-pause', 'errs', 'x:1']);
      expect(both.stderr).toBe('conflicting options: --no-pause and --pause cannot be used together\n');
      const target = `${scratch()}.tar`;
      const exportMissing = await wharf.run(['export', '-o', target, 'nope']);
      expect(exportMissing.stderr).toBe('Error response from daemon: No such container: nope\n');
      expect(existsSync(target)).toBe(false);
      expect((await readdir(store.work)).filter((f) => f.includes('.wharf-'))).toEqual([]);
      // Nothing was recorded by the failed commits.
      expect(await wharf.ok(['images', '--format', '{{.Repository}}'])).not.toMatch(/^x$/m);
    });

    it('refuses a dead container', async () => {
      const id = (await wharf.ok(['create', '--name', 'dead', 'busybox'])).trim();
      // Wharf has no command that leaves a container dead: mark it so in the database.
      const db = new Database(join(store.root, 'engine.db'));
      try {
        db.prepare("UPDATE containers SET status = 'dead' WHERE id = ?").run(id);
      } finally {
        db.close();
      }
      const commit = await wharf.run(['commit', 'dead', 'x:dead']);
      expect(commit).toMatchObject({
        code: 1,
        stderr: `Error response from daemon: You cannot commit container ${id} which is Dead\n`,
      });
      const exported = await wharf.run(['export', '-o', `${scratch()}.tar`, 'dead']);
      expect(exported.stderr).toBe(`Error response from daemon: You cannot export container ${id} which is Dead\n`);
    });

    interopIt('export refuses to write to a terminal', ['script'], async () => {
      const r = await run('script', [
        '-qec',
        `${process.execPath} ${join(process.cwd(), 'dist/cli/main.js')} export --root ${store.root} errs`,
        '/dev/null',
      ]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    });
  });

  interopDescribe('with the Docker engine', ['dockerd', 'docker'], () => {
    const d = useDockerWithBusybox(TIMEOUT);

    it('refuses an invalid change with Docker’s message', async () => {
      await d.dockerOk(['create', '--name', 'errs', 'busybox']);
      const docker = await d.docker(['commit', '-c', 'RUN echo', 'errs', 'x:1']);
      const ours = await wharf.run(['commit', '-c', 'RUN echo', 'errs', 'x:1']);
      expect(docker.code).toBe(1);
      expect(ours).toMatchObject({ code: 1, stderr: docker.stderr });
    });

    it(
      'docker load of wharf save gives the same filesystem in Docker',
      async () => {
        const archive = `${scratch()}.tar`;
        await wharf.ok(['save', '-o', archive, 'del:2']);
        await d.dockerOk(['load', '-i', archive]);
        await d.dockerOk(['create', '--name', 'loaded', 'del:2', '/bin/sh']);
        const dockerExport = `${scratch()}.tar`;
        await d.dockerOk(['export', '-o', dockerExport, 'loaded']);
        await wharf.ok(['create', '--name', 'loaded', 'del:2', '/bin/sh']);
        const ours = `${scratch()}.tar`;
        await wharf.ok(['export', '-o', ours, 'loaded']);
        const dockerList = withoutInit(names(await tarEntries(dockerExport)));
        expect(dockerList).toContain('d/new');
        expect(dockerList).not.toContain('bin/ls');
        expect(dockerList).not.toContain('d/old1');
        expect(withoutInit(names(await tarEntries(ours)))).toEqual(dockerList);
      },
      TIMEOUT,
    );

    it(
      'the same commit by Docker and by Wharf gives layers with the same entries and whiteouts',
      async () => {
        if (!d.requireRun('the same commit by Docker and by Wharf')) return;
        await d.dockerOk(['run', '--name', 'same', '--network', 'none', 'busybox', 'sh', '-c', CHANGES_SCRIPT]);
        await d.dockerOk(['commit', 'same', 'same:1']);
        await wharf.ok(['run', '--name', 'same', 'busybox', 'sh', '-c', CHANGES_SCRIPT]);
        await wharf.ok(['commit', 'same', 'same:1']);
        const dockerArchive = `${scratch()}.tar`;
        await d.dockerOk(['save', '-o', dockerArchive, 'same:1']);
        const docker = await readSavedImage(dockerArchive, scratch());
        const ours = await saved('same:1');
        // Go's tar headers carry the file type bits in the mode field too (040755): compare permissions.
        const summary = (entries: TarEntryInfo[]) =>
          entries.map((e) => `${e.type} ${(e.mode & 0o7777).toString(8)} ${e.size} ${e.name} ${e.linkname ?? ''}`);
        const dockerTop = docker.layers.at(-1) ?? [];
        expect(dockerTop.map((e) => e.name)).toContain('bin/.wh.ls');
        expect(dockerTop.map((e) => e.name)).toContain('tmp/.wh..wh..opq');
        expect(summary(ours.layers.at(-1) ?? [])).toEqual(summary(dockerTop));
        // The base layer is the same blob on both sides, and so are the histories' shapes.
        expect(ours.config.rootfs.diff_ids[0]).toBe(docker.config.rootfs.diff_ids[0]);
        expect(ours.config.history?.at(-1)?.created_by).toBe(docker.config.history?.at(-1)?.created_by);
        // The config is the container's, as Docker records it (the hostname is the container's ID).
        const { Hostname: _h1, ...dockerConfig } = docker.config.config ?? {};
        const { Hostname: _h2, ...ourConfig } = ours.config.config ?? {};
        expect(ourConfig).toEqual(dockerConfig);
      },
      TIMEOUT,
    );
  });
});
