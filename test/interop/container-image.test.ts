// The seed's story with Wharf instead of registry:2, on the real Docker engine with bridge
// networking (run inside a network namespace of the test's own, so the host's network settings
// are never touched): the image built from this repository's Dockerfile runs with
// `-p 5000:5000 --restart=always`, answers docker push/pull through the published port,
// becomes healthy, comes back after its process is killed, stops cleanly (exit 0) on SIGTERM,
// and its data volume survives `docker rm` and goes with `docker rm --volumes`.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { importBaseImage, REPO_ROOT, stagePrebuiltContext } from '../support/container-image.js';
import { type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { allSteps, NetnsHost } from '../support/netns.js';
import { interopDescribe, removeTmpDir, sleep, tmpDir } from '../support/tools.js';

const SETUP_TIMEOUT = 15 * 60_000;
const STEP_TIMEOUT = 3 * 60_000;
const IMAGE = '127.0.0.1:5000/seed/busybox:1';

interopDescribe(
  'Wharf as a container image (Dockerfile, docker run -p 5000:5000 --restart=always)',
  ['docker', 'dockerd', 'docker-proxy', 'iptables', 'ip', 'nsenter', 'debootstrap', 'busybox', 'npm'],
  () => {
    const host = new NetnsHost({ tag: 'dkimg' });
    let d: Dockerd | undefined;
    let context = '';
    let imageId = '';

    const engine = (): Dockerd => {
      if (!d) throw new Error('no engine');
      return d;
    };
    const inspect = async (container: string, format: string) =>
      (await engine().dockerOk(['inspect', '--format', format, container])).trim();
    /** Polls `format` of the container until `ok` holds, for at most `ms`; returns the last value. */
    const waitFor = async (container: string, format: string, ok: (v: string) => boolean, ms = 90_000) => {
      const deadline = Date.now() + ms;
      let value = await inspect(container, format);
      while (!ok(value) && Date.now() < deadline) {
        await sleep(500);
        value = await inspect(container, format);
      }
      return value;
    };
    const runRegistry = async (extra: string[] = []) =>
      (
        await engine().dockerOk([
          'run',
          '-d',
          '--name',
          'myregistry',
          '-p',
          '5000:5000',
          '--restart=always',
          ...extra,
          'wharf',
        ])
      ).trim();
    const volumeOf = (container: string) =>
      inspect(container, '{{range .Mounts}}{{if eq .Destination "/var/lib/wharf"}}{{.Name}}{{end}}{{end}}');
    const volumes = async () => (await engine().dockerOk(['volume', 'ls', '-q'])).split('\n').filter((v) => v !== '');

    beforeAll(async () => {
      await host.create();
      // nsenter joins only the network namespace: `ip netns exec` would also remount /sys,
      // hiding the cgroup mounts dockerd needs.
      d = await startDockerd({ netnsWrap: ['nsenter', `--net=/run/netns/${host.name}`] });
      context = await tmpDir('wharf-image-context');
      const started = Date.now();
      await Promise.all([importBaseImage(d, 'wharf-base:test'), stagePrebuiltContext(context)]);
      const based = Date.now();
      await d.dockerOk(
        ['build', '--build-arg', 'BASE=wharf-base:test', '--target', 'prebuilt', '-t', 'wharf', context],
        { env: { ...d.env, DOCKER_BUILDKIT: '0' }, timeoutMs: 10 * 60_000 },
      );
      console.log(
        `[container-image] base + context ${((based - started) / 1000).toFixed(1)} s, docker build ${((Date.now() - based) / 1000).toFixed(1)} s`,
      );
      imageId = await makeBusyboxImage(d, IMAGE);
    }, SETUP_TIMEOUT);

    afterAll(async () => {
      await allSteps([
        async () => {
          if (d) await d.docker(['rm', '-f', '--volumes', 'myregistry', 'reader', 'tokenreg'], { timeoutMs: 60_000 });
        },
        async () => d?.stop(),
        () => host.remove(),
        async () => {
          if (context) await removeTmpDir(context);
        },
      ]);
    }, 2 * 60_000);

    it(
      'the default target, on the repository itself, builds every stage before `npm ci` (classic builder)',
      async () => {
        // The test base has no npm: the build stops there, which shows that the stages before it
        // (the prebuilt one included) do not fail on the repository's context.
        const r = await engine().docker(
          ['build', '--build-arg', 'BASE=wharf-base:test', '-t', 'wharf-default', REPO_ROOT],
          {
            env: { ...engine().env, DOCKER_BUILDKIT: '0' },
            timeoutMs: STEP_TIMEOUT,
          },
        );
        expect(r.code).not.toBe(0);
        expect(r.stdout).toMatch(/Step \d+\/\d+ : RUN npm ci && npm prune --omit=dev/);
        expect(`${r.stdout}${r.stderr}`).toMatch(/npm: not found/);
      },
      STEP_TIMEOUT,
    );

    it('the image runs as a non-root user, serves 0.0.0.0:5000 with /var/lib/wharf as its volume', async () => {
      const config = JSON.parse(
        (await engine().dockerOk(['image', 'inspect', '--format', '{{json .Config}}', 'wharf'])).trim(),
      ) as {
        User: string;
        ExposedPorts: Record<string, unknown>;
        Volumes: Record<string, unknown>;
        Healthcheck?: { Test: string[] };
      };
      expect(config.User).toBe('wharf');
      expect(Object.keys(config.ExposedPorts)).toEqual(['5000/tcp']);
      expect(Object.keys(config.Volumes)).toEqual(['/var/lib/wharf']);
      expect(config.Healthcheck?.Test[0]).toBe('CMD');
    });

    it(
      'runs with -p 5000:5000 --restart=always, becomes healthy, answers docker push and pull',
      async () => {
        await runRegistry();
        expect(await waitFor('myregistry', '{{.State.Health.Status}}', (s) => s === 'healthy')).toBe('healthy');
        expect((await engine().dockerOk(['exec', 'myregistry', 'id', '-u'])).trim()).toBe('10001');
        await engine().dockerOk(['push', IMAGE], { timeoutMs: STEP_TIMEOUT });
        await engine().dockerOk(['rmi', IMAGE]);
        await engine().dockerOk(['pull', IMAGE], { timeoutMs: STEP_TIMEOUT });
        expect(await engine().dockerOk(['image', 'inspect', '--format', '{{.Id}}', IMAGE])).toBe(`${imageId}\n`);
      },
      STEP_TIMEOUT,
    );

    it(
      'comes back after its process is killed (--restart=always), with its data',
      async () => {
        const pid = Number(await inspect('myregistry', '{{.State.Pid}}'));
        expect(pid).toBeGreaterThan(1);
        process.kill(pid, 'SIGKILL');
        const restarted = await waitFor(
          'myregistry',
          '{{.RestartCount}} {{.State.Running}} {{.State.Pid}}',
          (s) => s.startsWith('1 true ') && s !== `1 true ${pid}`,
        );
        expect(restarted).toMatch(/^1 true \d+$/);
        expect(await waitFor('myregistry', '{{.State.Health.Status}}', (s) => s === 'healthy')).toBe('healthy');
        await engine().dockerOk(['rmi', IMAGE]);
        await engine().dockerOk(['pull', IMAGE], { timeoutMs: STEP_TIMEOUT });
      },
      STEP_TIMEOUT,
    );

    it(
      'docker stop ends it cleanly (SIGTERM, exit 0); the volume survives docker rm, with the data',
      async () => {
        await engine().dockerOk(['stop', 'myregistry'], { timeoutMs: 60_000 });
        expect(await inspect('myregistry', '{{.State.ExitCode}} {{.State.OOMKilled}}')).toBe('0 false');
        const volume = await volumeOf('myregistry');
        expect(volume).toMatch(/^[0-9a-f]{64}$/);
        await engine().dockerOk(['rm', 'myregistry']);
        expect(await volumes()).toContain(volume);
        // Another registry on that volume still has the pushed image.
        await engine().dockerOk([
          'run',
          '-d',
          '--name',
          'reader',
          '-p',
          '5000:5000',
          '-v',
          `${volume}:/var/lib/wharf`,
          'wharf',
        ]);
        expect(await waitFor('reader', '{{.State.Health.Status}}', (s) => s === 'healthy')).toBe('healthy');
        await engine().dockerOk(['rmi', IMAGE]);
        await engine().dockerOk(['pull', IMAGE], { timeoutMs: STEP_TIMEOUT });
        await engine().dockerOk(['rm', '-f', 'reader']);
        await engine().dockerOk(['volume', 'rm', volume]);
      },
      STEP_TIMEOUT,
    );

    it(
      'docker rm --volumes removes its data volume',
      async () => {
        await runRegistry();
        const volume = await volumeOf('myregistry');
        expect(await volumes()).toContain(volume);
        await engine().dockerOk(['rm', '-f', '--volumes', 'myregistry'], { timeoutMs: 60_000 });
        expect(await volumes()).not.toContain(volume);
      },
      STEP_TIMEOUT,
    );

    it(
      'with WHARF_AUTH_MODE=token: anonymous push is refused, the generated admin logs in and pushes',
      async () => {
        const e = engine();
        await e.dockerOk([
          'run',
          '-d',
          '--name',
          'tokenreg',
          '-p',
          '5001:5000',
          '-e',
          'WHARF_AUTH_MODE=token',
          '-e',
          'WHARF_AUTH_ALLOW_NONE_ON_NETWORK=false',
          'wharf',
        ]);
        expect(await waitFor('tokenreg', '{{.State.Health.Status}}', (s) => s === 'healthy')).toBe('healthy');
        const ref = '127.0.0.1:5001/admin/busybox:1';
        await e.dockerOk(['tag', IMAGE, ref]);
        const anonymous = await e.docker(['push', ref], { timeoutMs: STEP_TIMEOUT });
        expect(anonymous.code).not.toBe(0);
        expect(anonymous.stderr).toMatch(/requested access to the resource is denied|unauthorized/i);
        const password = (await e.dockerOk(['exec', 'tokenreg', 'cat', '/var/lib/wharf/admin-password'])).trim();
        await e.dockerOk(['login', '127.0.0.1:5001', '-u', 'admin', '--password-stdin'], { input: `${password}\n` });
        await e.dockerOk(['push', ref], { timeoutMs: STEP_TIMEOUT });
        await e.dockerOk(['rm', '-f', '--volumes', 'tokenreg'], { timeoutMs: 60_000 });
      },
      STEP_TIMEOUT,
    );
  },
);
