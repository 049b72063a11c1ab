import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { countAccounts, createAccount } from '../metadata/accounts.js';
import type { MetadataDb } from '../metadata/db.js';
import { generatePassword, hashPassword } from './passwords.js';

/** Name of the file, in the data directory, that holds a generated admin password. */
export const ADMIN_PASSWORD_FILE = 'admin-password';

/**
 * Creates the `admin` account on first start, when there is no account at all: with
 * `password` (WHARF_ADMIN_PASSWORD) when given, else a generated one that is logged once and
 * written to a file only the owner can read. Of several nodes starting at once, one creates it.
 */
export async function ensureAdmin(
  db: MetadataDb,
  options: { dataDir?: string; password?: string; log: (message: string) => void },
): Promise<void> {
  if ((await countAccounts(db)) > 0) return;
  const generated = options.password ? undefined : generatePassword();
  const password = options.password ?? (generated as string);
  try {
    await createAccount(db, { username: 'admin', passwordHash: await hashPassword(password), isAdmin: true });
  } catch (err) {
    // Several nodes starting at once on one empty database (PostgreSQL): another one made it first.
    if ((await countAccounts(db)) > 0) return;
    throw err;
  }
  if (!generated) {
    options.log('created the admin account with the password from WHARF_ADMIN_PASSWORD');
    return;
  }
  let where = '';
  if (options.dataDir) {
    const file = join(options.dataDir, ADMIN_PASSWORD_FILE);
    await writeFile(file, `${generated}\n`, { mode: 0o600 });
    where = ` (also in ${file})`;
  }
  options.log(`created the admin account; its generated password is ${generated}${where}`);
}
