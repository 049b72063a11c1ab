import { Command } from 'commander';
import { hashPassword } from '../auth/passwords.js';
import { audit } from '../hub/audit.js';
import { HubError } from '../hub/errors.js';
import { assignPlan, findPlan, planUsage, savePlan } from '../hub/plans.js';
import { formatBytes, namespaceQuota, parseByteSize } from '../hub/quotas.js';
import { countAccounts, createAccount, findAccount, listAccounts, updateAccount } from '../metadata/accounts.js';
import type { MetadataDb } from '../metadata/db.js';
import { findNamespace } from '../metadata/namespaces.js';
import { type DataOptions, withDatabase, withDataOptions } from './store.js';
import { formatTable, parseFormat } from './table.js';

/** Usernames become namespaces (`alice/app`), so they follow the repository path-component grammar. */
const USERNAME_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
export const MAX_USERNAME_LENGTH = 64;
export const MIN_PASSWORD_LENGTH = 8;

export function checkUsername(name: string): void {
  if (name.length > MAX_USERNAME_LENGTH || !USERNAME_RE.test(name)) {
    throw new Error(
      `invalid username ${JSON.stringify(name)}: use lowercase letters and digits, ` +
        `optionally separated by single '.', '_' or '-', at most ${MAX_USERNAME_LENGTH} characters`,
    );
  }
}

function checkPassword(password: string): void {
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    throw new Error(`password must be at least ${MIN_PASSWORD_LENGTH} characters`);
  }
}

/** `--quota 10MiB` → bytes; `none` → null (no quota). */
function parseQuotaOption(text: string): number | null {
  if (text === 'none') return null;
  const bytes = parseByteSize(text);
  if (bytes === undefined) throw new Error(`invalid --quota ${JSON.stringify(text)}: use e.g. 10MiB, 5GB or none`);
  return bytes;
}

interface PasswordOptions extends DataOptions {
  passwordStdin?: boolean;
}

/** `wharf user …`: manage the accounts of the data directory's registry. */
export function userCommand(): Command {
  const user = new Command('user').description('manage registry accounts');

  withDataOptions(
    user
      .command('plan')
      .description(
        "put a user's or organization's namespace on a plan (creating or resizing the plan with --private-repos)",
      )
      .argument('<namespace>', 'user or organization name')
      .argument('<plan>', 'plan name, e.g. free')
      .option('--private-repos <n>', 'private repositories the plan allows')
      .option('--quota <size>', "storage quota of each namespace on the plan, e.g. 10MiB, 5GB ('none': no quota)"),
  ).action(async (namespace: string, plan: string, opts: DataOptions & { privateRepos?: string; quota?: string }) => {
    const quota = opts.quota === undefined ? undefined : parseQuotaOption(opts.quota);
    await withDatabase(opts, { create: false }, async (db) => {
      try {
        if (opts.privateRepos !== undefined) {
          if (!/^\d+$/.test(opts.privateRepos)) throw new Error('--private-repos must be a non-negative integer');
          await savePlan(db, plan, Number(opts.privateRepos), quota);
        } else if (quota !== undefined) {
          // A new plan made only for a quota allows no private repository, as the free plan's count is its own.
          await savePlan(db, plan, (await findPlan(db, plan))?.privateRepos ?? 0, quota);
        }
        await assignPlan(db, namespace, plan);
      } catch (err) {
        if (err instanceof HubError) throw new Error(err.message);
        throw err;
      }
      await audit(db, { action: 'plan.assign', target: namespace, detail: { plan, via: 'cli' } });
      const ns = await findNamespace(db, namespace);
      const u = await planUsage(db, ns?.id ?? 0);
      const q = await namespaceQuota(db, namespace);
      const storage =
        q?.quotaBytes == null ? '' : `, ${formatBytes(q.usedBytes)} of ${formatBytes(q.quotaBytes)} storage`;
      process.stdout.write(
        `${namespace}: plan ${u.plan}, ${u.privateReposUsed} of ${u.privateRepos} private repositories${storage}\n`,
      );
    });
  });

  withDataOptions(
    user
      .command('add')
      .description('create an account')
      .argument('<name>', 'username (also the account namespace)')
      .option('--admin', 'make the account an administrator')
      .option('--password-stdin', 'read the password from stdin'),
  ).action(async (name: string, opts: PasswordOptions & { admin?: boolean }) => {
    checkUsername(name);
    await withDatabase(opts, { create: true }, async (db) => {
      if (await findAccount(db, name)) throw new Error(`user ${JSON.stringify(name)} already exists`);
      const password = await readNewPassword(opts);
      const first = (await countAccounts(db)) === 0;
      try {
        await createAccount(db, { username: name, passwordHash: await hashPassword(password), isAdmin: opts.admin });
      } catch (err) {
        // Created by someone else while the password was being read.
        if (await findAccount(db, name)) throw new Error(`user ${JSON.stringify(name)} already exists`);
        throw err;
      }
      if (first && !opts.admin) {
        process.stderr.write(
          `warning: ${name} is the first account and is not an administrator; ` +
            '`wharf serve` creates the admin account only when there is no account at all\n',
        );
      }
    });
  });

  withDataOptions(
    user
      .command('passwd')
      .description("change an account's password")
      .argument('<name>', 'username')
      .option('--password-stdin', 'read the password from stdin'),
  ).action(async (name: string, opts: PasswordOptions) => {
    await withDatabase(opts, { create: false }, async (db) => {
      await requireAccount(db, name);
      const password = await readNewPassword(opts);
      if (!(await updateAccount(db, name, { passwordHash: await hashPassword(password) }))) noSuchUser(name);
    });
  });

  for (const [verb, disabled, description] of [
    ['disable', true, 'disable an account: it can no longer log in or use its tokens'],
    ['enable', false, 'enable a disabled account'],
  ] as const) {
    withDataOptions(user.command(verb).description(description).argument('<name>', 'username')).action(
      async (name: string, opts: DataOptions) => {
        await withDatabase(opts, { create: false }, async (db) => {
          if (!(await updateAccount(db, name, { disabled }))) noSuchUser(name);
        });
      },
    );
  }

  withDataOptions(
    user
      .command('list')
      .alias('ls')
      .description('list accounts')
      .option('--format <format>', 'table (default) or json: one JSON object per line'),
  ).action(async (opts: DataOptions & { format?: string }) => {
    const format = parseFormat(opts.format);
    const accounts = await withDatabase(opts, { create: false }, listAccounts);
    if (format === 'json') {
      for (const a of accounts) {
        const entry = { Username: a.username, Admin: a.isAdmin, Disabled: a.disabled, CreatedAt: a.createdAt };
        process.stdout.write(`${JSON.stringify(entry)}\n`);
      }
      return;
    }
    const rows = accounts.map((a) => [a.username, yesNo(a.isAdmin), yesNo(a.disabled), a.createdAt]);
    process.stdout.write(formatTable(['USERNAME', 'ADMIN', 'DISABLED', 'CREATED'], rows));
  });

  return user;
}

function yesNo(value: boolean): string {
  return value ? 'yes' : 'no';
}

function noSuchUser(name: string): never {
  throw new Error(`no such user: ${name}`);
}

async function requireAccount(db: MetadataDb, name: string): Promise<void> {
  if (!(await findAccount(db, name))) noSuchUser(name);
}

/**
 * The new password: from stdin with --password-stdin (one trailing newline removed, as
 * `docker login --password-stdin` does), else typed twice on the terminal without echo.
 */
async function readNewPassword(opts: PasswordOptions): Promise<string> {
  if (opts.passwordStdin) {
    const password = await readAllStdin();
    if (password === '') throw new Error('no password on stdin');
    checkPassword(password);
    return password;
  }
  if (!process.stdin.isTTY) {
    throw new Error('cannot prompt for a password: stdin is not a terminal; use --password-stdin');
  }
  const [password, again] = await promptHidden(['Password: ', 'Retype password: ']);
  if (password === undefined || again === undefined) throw new Error('no password given');
  checkPassword(password);
  if (password !== again) throw new Error('passwords do not match');
  return password;
}

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
  const text = Buffer.concat(chunks).toString('utf8');
  // docker: TrimSuffix "\n", then TrimSuffix "\r".
  return text.replace(/\n$/, '').replace(/\r$/, '');
}

/**
 * Asks each prompt in turn on the terminal (prompts on stderr) and reads one line per prompt
 * with echo off. Handles backspace and Ctrl-U; Ctrl-C and Ctrl-D abort. Input pasted ahead of
 * a prompt is kept for it.
 */
function promptHidden(prompts: string[]): Promise<string[]> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    const answers: string[] = [];
    let current = '';
    const done = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      if (err) {
        process.stderr.write('\n');
        reject(err);
      } else {
        resolve(answers);
      }
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          answers.push(current);
          current = '';
          process.stderr.write('\n');
          if (answers.length === prompts.length) return done();
          process.stderr.write(prompts[answers.length] ?? '');
        } else if (ch === '\u0003') {
          return done(new Error('interrupted'));
        } else if (ch === '\u0004') {
          return done(new Error('no password given'));
        } else if (ch === '\u007f' || ch === '\b') {
          current = [...current].slice(0, -1).join('');
        } else if (ch === '\u0015') {
          current = '';
        } else if (ch >= ' ') {
          current += ch;
        }
      }
    };
    stdin.setEncoding('utf8');
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.resume();
    process.stderr.write(prompts[0] ?? '');
  });
}
