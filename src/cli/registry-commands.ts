// The image-tool commands that talk to registries: pull, push, login, logout.
import { Command } from 'commander';
import type { Credentials } from '../client/auth.js';
import { RegistryClient } from '../client/client.js';
import {
  clientCredentials,
  convertToHostname,
  DOCKER_HUB_KEY,
  findCredentials,
  removeCredentials,
  saveCredentials,
  wharfConfigDir,
} from '../engine/credentials.js';
import { parsePlatform } from '../engine/platform.js';
import { AllTagsWithTagError, type CredentialLookup, pullImage } from '../engine/pull.js';
import { PushReferenceError, pushImage } from '../engine/push.js';
import { effectiveRegistry, loadRegistrySettings, pushEndpoint, withExtraMirrors } from '../engine/registry-config.js';
import { withLocalStore } from '../engine/store.js';
import { parseReference } from '../oci/reference.js';
import { type RootOptions, run, withRoot } from './engine-command.js';
import { progressReporter } from './progress.js';

interface ConfigOptions {
  /** Wharf's config directory (config.json, daemon.json). */
  config?: string;
  daemonConfig?: string;
}

function withConfig(command: Command): Command {
  return command
    .option('--config <dir>', 'location of the client config files (also WHARF_CONFIG_DIR; default ~/.wharf)')
    .option(
      '--daemon-config <file>',
      'registry settings file (also WHARF_DAEMON_CONFIG; default <config>/daemon.json)',
    );
}

function configDir(opts: ConfigOptions): string {
  return opts.config ?? wharfConfigDir();
}

function settingsFor(opts: ConfigOptions) {
  const file = opts.daemonConfig ?? (opts.config !== undefined ? `${opts.config}/daemon.json` : undefined);
  return loadRegistrySettings(file !== undefined ? { file } : {});
}

function credentialLookup(opts: ConfigOptions): CredentialLookup {
  const dir = configDir(opts);
  return async (host) => clientCredentials(await findCredentials(host, { configDir: dir }));
}

/** Errors the docker CLI itself reports (not `Error response from daemon:`). */
class CliError extends Error {}

/** `--password-stdin`: all of stdin, one trailing newline (and carriage return) removed, as docker does. */
async function readStdinSecret(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8').replace(/\n$/, '').replace(/\r$/, '');
}

/** Reads one line from the terminal after `prompt`; without echo (raw mode) for a password. */
function readSecret(prompt: string, echo: boolean): Promise<string> {
  const stdin = process.stdin;
  process.stdout.write(prompt);
  if (!echo) stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  let text = '';
  return new Promise((resolve) => {
    const finish = () => {
      stdin.off('data', onData);
      if (!echo) {
        stdin.setRawMode(false);
        process.stdout.write('\n');
      }
      stdin.pause();
      resolve(text);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish();
        if (ch === '\u0003') {
          if (!echo) stdin.setRawMode(false);
          process.stdout.write('\n');
          process.exit(130);
        }
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/**
 * Runs a command body. `daemon`: errors are the daemon's answer (`Error response from daemon: …`,
 * as for pull and login); otherwise they came within the progress stream and print bare (push).
 */
async function runCommand(fn: () => Promise<void>, daemon = true): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!daemon || err instanceof CliError || err instanceof AllTagsWithTagError || err instanceof PushReferenceError) {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
      return;
    }
    await run(async () => {
      throw err;
    }, true);
  }
}

/** `wharf pull`. */
export function pullCommand(): Command {
  return withConfig(
    withRoot(
      new Command('pull')
        .description('download an image from a registry')
        .argument('<name>', 'NAME[:TAG|@DIGEST]')
        .option('-a, --all-tags', 'download all tagged images in the repository')
        .option('--platform <platform>', 'os/arch[/variant] to pick from a multi-platform image')
        .option('-q, --quiet', 'print only the image reference')
        .option(
          '--registry-mirror <url>',
          'a registry mirror for Docker Hub images, tried before daemon.json’s (repeatable)',
          (value: string, prev: string[]) => [...prev, value],
          [] as string[],
        ),
    ),
  ).action(
    async (
      name: string,
      opts: RootOptions &
        ConfigOptions & { platform?: string; quiet?: boolean; allTags?: boolean; registryMirror?: string[] },
    ) => {
      await runCommand(async () => {
        const platformText = opts.platform ?? process.env.DOCKER_DEFAULT_PLATFORM;
        const platform = platformText ? parsePlatform(platformText) : undefined;
        const ref = parseReference(name); // reference errors come before anything else, as in docker
        if (opts.allTags && (ref.tag !== undefined || ref.digest !== undefined)) throw new AllTagsWithTagError();
        const settings = withExtraMirrors(await settingsFor(opts), opts.registryMirror ?? []);
        await withLocalStore(opts.root, async (store) => {
          const reporter = progressReporter(opts.quiet === true);
          try {
            const result = await pullImage(store, name, {
              ...(platform ? { platform } : {}),
              allTags: opts.allTags === true,
              settings,
              credentials: credentialLookup(opts),
              onEvent: (e) => reporter.event(e),
            });
            reporter.close();
            process.stdout.write(`${result.reference}\n`);
          } finally {
            reporter.close();
          }
        });
      });
    },
  );
}

/** `wharf push`. */
export function pushCommand(): Command {
  return withConfig(
    withRoot(
      new Command('push')
        .description('upload an image to a registry')
        .argument('<name>', 'NAME[:TAG]')
        .option('-a, --all-tags', 'push all tags of the repository')
        .option('-q, --quiet', 'suppress verbose output')
        .option('--oci', 'push an OCI image manifest instead of a Docker schema2 manifest'),
    ),
  ).action(
    async (name: string, opts: RootOptions & ConfigOptions & { quiet?: boolean; allTags?: boolean; oci?: boolean }) => {
      await runCommand(async () => {
        const ref = parseReference(name);
        if (opts.allTags && ref.tag !== undefined) throw new PushReferenceError("tag can't be used with --all-tags/-a");
        const settings = await settingsFor(opts);
        await withLocalStore(opts.root, async (store) => {
          const reporter = progressReporter(opts.quiet === true);
          try {
            const result = await pushImage(store, name, {
              allTags: opts.allTags === true,
              oci: opts.oci === true,
              settings,
              credentials: credentialLookup(opts),
              onEvent: (e) => reporter.event(e),
            });
            reporter.close();
            if (opts.quiet) process.stdout.write(`${result.reference}\n`);
          } finally {
            reporter.close();
          }
        });
      }, false);
    },
  );
}

/** The registry a login/logout names: Docker Hub when none (or a Hub alias) is given. */
function serverOf(server: string | undefined): { key: string; domain: string } {
  if (server === undefined || server === '') return { key: DOCKER_HUB_KEY, domain: 'docker.io' };
  const host = convertToHostname(server);
  if (['docker.io', 'index.docker.io', 'registry-1.docker.io'].includes(host) || server === DOCKER_HUB_KEY) {
    return { key: DOCKER_HUB_KEY, domain: 'docker.io' };
  }
  return { key: host, domain: host };
}

/** `wharf login`. */
export function loginCommand(): Command {
  return withConfig(
    new Command('login')
      .description('log in to a registry (Docker Hub by default)')
      .argument('[server]', 'registry host[:port]')
      .option('-u, --username <username>', 'username')
      .option('-p, --password <password>', 'password')
      .option('--password-stdin', 'take the password from stdin'),
  ).action(
    async (
      server: string | undefined,
      opts: ConfigOptions & { username?: string; password?: string; passwordStdin?: boolean },
    ) => {
      await runCommand(async () => {
        if (opts.password !== undefined && opts.passwordStdin) {
          throw new CliError('conflicting options: cannot specify both --password and --password-stdin');
        }
        if (opts.passwordStdin && (opts.username ?? '') === '') {
          throw new CliError('the --password-stdin option requires --username to be set');
        }
        if (opts.password !== undefined) {
          process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
        }
        const settings = await settingsFor(opts);
        const { domain } = serverOf(server);
        const endpoint = await pushEndpoint(settings, domain);
        // With a default registry set, Hub logins go there, under that registry's own key.
        const key = effectiveRegistry(settings, domain) === domain ? serverOf(server).key : endpoint.host;
        const dir = configDir(opts);

        let username = opts.username ?? '';
        let password = opts.passwordStdin ? await readStdinSecret() : (opts.password ?? '');
        const stored = await findCredentials(key, { configDir: dir });
        if (
          username === '' &&
          password === '' &&
          stored &&
          (stored.identityToken !== undefined || stored.password !== '')
        ) {
          // Docker first tries what it has (an identity token or a saved password).
          process.stdout.write(
            `Authenticating with existing credentials...${stored.username !== '' ? ` [Username: ${stored.username}]` : ''}\n`,
          );
          const creds = clientCredentials(stored);
          try {
            if (creds) {
              const token = await login(endpoint, creds);
              await saveCredentials(key, { ...stored, ...(token ? { identityToken: token } : {}) }, dir);
              process.stdout.write('Login Succeeded\n');
              return;
            }
          } catch (err) {
            process.stderr.write(`Login did not succeed, error: ${(err as Error).message}\n`);
          }
        }
        if (username === '') {
          if (!process.stdin.isTTY)
            throw new CliError('Error: Cannot perform an interactive login from a non TTY device');
          const def = stored?.username ?? '';
          username = (await readSecret(def !== '' ? `Username (${def}): ` : 'Username: ', true)).trim() || def;
          if (username === '') throw new CliError('Error: Non-null Username Required');
        }
        if (password === '') {
          if (!process.stdin.isTTY)
            throw new CliError('Error: Cannot perform an interactive login from a non TTY device');
          password = await readSecret('Password: ', false);
          if (password === '') throw new CliError('Error: Password Required');
        }
        const identityToken = await login(endpoint, { username, password });
        const file = await saveCredentials(
          key,
          { username, password, ...(identityToken ? { identityToken } : {}) },
          dir,
        );
        if (identityToken === undefined) {
          // Docker's warning, minus its advice: Wharf runs no credential helpers.
          process.stderr.write(`\nWARNING! Your credentials are stored unencrypted in '${file}'.\n\n`);
        }
        process.stdout.write('Login Succeeded\n');
      });
    },
  );
}

/** `docker login`'s daemon half: returns the identity token the registry gave, if any. */
async function login(
  endpoint: { host: string; insecure: boolean },
  credentials: Credentials,
): Promise<string | undefined> {
  const client = new RegistryClient({
    host: endpoint.host,
    insecure: endpoint.insecure,
    credentials,
    clientId: 'docker',
  });
  try {
    return (await client.login()).identityToken;
  } finally {
    await client.close();
  }
}

/** `wharf logout`. */
export function logoutCommand(): Command {
  return withConfig(
    new Command('logout')
      .description('log out from a registry (Docker Hub by default)')
      .argument('[server]', 'registry host[:port]'),
  ).action(async (server: string | undefined, opts: ConfigOptions) => {
    await runCommand(async () => {
      const settings = await settingsFor(opts);
      const { key, domain } = serverOf(server);
      const target = effectiveRegistry(settings, domain) === domain ? key : effectiveRegistry(settings, domain);
      // Docker 28 says this whether or not there were credentials.
      process.stdout.write(`Removing login credentials for ${target}\n`);
      await removeCredentials(target, configDir(opts));
    });
  });
}

/** Top-level commands of this module. */
export function commands(): Command[] {
  return [pullCommand(), pushCommand(), loginCommand(), logoutCommand()];
}

/** The same commands under `wharf image …` (docker has `image pull` and `image push`). */
export function imageSubcommands(): Command[] {
  return [pullCommand(), pushCommand()];
}
