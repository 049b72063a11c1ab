import { type Algorithm, hash as argon2Hash } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import {
  generatePassword,
  hashFormat,
  hashPassword,
  spendVerifyTime,
  verifyPassword,
} from '../../src/auth/passwords.js';

describe('argon2', () => {
  it('hashes with argon2id and verifies the round trip', async () => {
    const hash = await hashPassword('correct horse');
    expect(hash).toMatch(/^\$argon2id\$v=19\$/);
    expect(await verifyPassword(hash, 'correct horse')).toBe(true);
    expect(await verifyPassword(hash, 'correct horsE')).toBe(false);
    expect(await verifyPassword(hash, '')).toBe(false);
    // Salted: the same password never gives the same hash.
    expect(await hashPassword('correct horse')).not.toBe(hash);
  });

  it('verifies argon2i and argon2d hashes too', async () => {
    // Algorithm is an ambient const enum (no access under isolatedModules): 0 = Argon2d, 1 = Argon2i.
    for (const [algorithm, prefix] of [
      [0, '$argon2d$'],
      [1, '$argon2i$'],
    ] as const) {
      const hash = await argon2Hash('pw', { algorithm: algorithm as Algorithm });
      expect(hash.startsWith(prefix)).toBe(true);
      expect(await verifyPassword(hash, 'pw')).toBe(true);
      expect(await verifyPassword(hash, 'pW')).toBe(false);
    }
  });

  it('handles non-ASCII passwords', async () => {
    const hash = await hashPassword('pässwörd 🐳');
    expect(await verifyPassword(hash, 'pässwörd 🐳')).toBe(true);
    expect(await verifyPassword(hash, 'passwörd 🐳')).toBe(false);
  });
});

// Hashes made by Debian's `htpasswd -B` are tested in htpasswd.test.ts.
describe('bcrypt', () => {
  it('verifies bcryptjs hashes ($2b$ and $2a$)', async () => {
    const b = await bcrypt.hash('s3cret', 4);
    expect(b.startsWith('$2b$04$')).toBe(true);
    expect(await verifyPassword(b, 's3cret')).toBe(true);
    expect(await verifyPassword(b, 's3cre')).toBe(false);
    const a = await bcrypt.hash('s3cret', (await bcrypt.genSalt(4)).replace(/^\$2b\$/, '$2a$'));
    expect(a.startsWith('$2a$04$')).toBe(true);
    expect(await verifyPassword(a, 's3cret')).toBe(true);
  });

  it('accepts $2y$, the same algorithm under PHP/Apache’s name', async () => {
    const y = (await bcrypt.hash('s3cret', 4)).replace(/^\$2b\$/, '$2y$');
    expect(await verifyPassword(y, 's3cret')).toBe(true);
    expect(await verifyPassword(y, 'nope')).toBe(false);
  });
});

describe('unknown or malformed hashes', () => {
  it('are no match and never throw', async () => {
    const good = await bcrypt.hash('pw', 4);
    const bad = [
      '',
      'pw',
      good.slice(0, -1),
      `${good}x`,
      good.replace(/^\$2b\$04/, '$2b$99'),
      good.replace(/^\$2b\$04/, '$2b$03'),
      good.replace(/^\$2b\$/, '$2x$'),
      good.replace(/^\$2b\$04\$./, '$2b$04$!'),
      '$argon2id$garbage',
      '$argon2id$v=19$m=19456,t=2,p=1$!!!$!!!',
      '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$',
      '$apr1$H023l8Fa$fSY8ZY.QoToAChxH1i2r5.',
      '{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI=',
      '$6$salt$abc',
    ];
    for (const hash of bad) expect(await verifyPassword(hash, 'pw'), hash).toBe(false);
    expect(hashFormat('$apr1$H023l8Fa$fSY8ZY.QoToAChxH1i2r5.')).toBeUndefined();
    expect(hashFormat(good)).toBe('bcrypt');
    expect(hashFormat(await hashPassword('pw'))).toBe('argon2');
  });
});

describe('spendVerifyTime', () => {
  it('resolves, with or without a hash to imitate', async () => {
    await expect(spendVerifyTime('anything')).resolves.toBeUndefined();
    await expect(spendVerifyTime('anything', 'not a hash')).resolves.toBeUndefined();
    await expect(spendVerifyTime('anything', await hashPassword('x'))).resolves.toBeUndefined();
  });

  it('imitates the cost of the hash it is given', async () => {
    const cheap = await bcrypt.hash('x', 4);
    const dear = await bcrypt.hash('x', 10);
    // First calls compute the dummies; time the second ones.
    await spendVerifyTime('pw', cheap);
    await spendVerifyTime('pw', dear);
    const time = async (like: string): Promise<number> => {
      const t0 = performance.now();
      await spendVerifyTime('pw', like);
      return performance.now() - t0;
    };
    // bcrypt cost 10 is 64 times the work of cost 4.
    expect(await time(dear)).toBeGreaterThan(4 * (await time(cheap)));
  });
});

describe('generatePassword', () => {
  it('gives 24 URL-safe characters, different every time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const p = generatePassword();
      expect(p).toMatch(/^[A-Za-z0-9_-]{24}$/);
      seen.add(p);
    }
    expect(seen.size).toBe(200);
  });
});
