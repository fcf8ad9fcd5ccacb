import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createClient } from '../src/db.ts';
import { hashPassword, seedDatabase, verifyPassword } from '../src/seed.ts';
import { PROVIDERS, runScript, testDatabase, type TestDatabase } from './helpers.ts';

const PASSWORD = 'Tr0ub4dor&3-correct-horse';

async function migrated(t: Parameters<typeof testDatabase>[0], provider: (typeof PROVIDERS)[number]): Promise<TestDatabase> {
  const db = await testDatabase(t, provider);
  const deployed = await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url } });
  assert.equal(deployed.code, 0, deployed.stderr);
  return db;
}

const seed = (db: TestDatabase, env: NodeJS.ProcessEnv = {}) =>
  // ADMIN_PASSWORD '' rather than unset: a developer's .env must not leak into the test.
  runScript('seed', [], { env: { DATABASE_URL: db.url, ADMIN_USERNAME: '', ADMIN_PASSWORD: '', DEFAULT_PACK_NAME: '', ...env } });

describe('password hashes', () => {
  test('are self-describing scrypt hashes that verify the password and nothing else', async () => {
    const hash = await hashPassword(PASSWORD);
    assert.match(hash, /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.ok(!hash.includes(PASSWORD));
    assert.equal(await verifyPassword(PASSWORD, hash), true);
    assert.equal(await verifyPassword(`${PASSWORD}x`, hash), false);
    assert.notEqual(await hashPassword(PASSWORD), hash, 'each hash has its own salt');
  });

  test('a malformed or hostile stored hash never verifies', async () => {
    for (const stored of ['', PASSWORD, 'scrypt$1$8$1$AAAA$AAAA', 'scrypt$1073741824$8$1$AAAA$AAAA', 'bcrypt$2$8$1$AAAA$AAAA', 'scrypt$16384$8$1$$']) {
      assert.equal(await verifyPassword(PASSWORD, stored), false, stored);
    }
  });
});

for (const provider of PROVIDERS) {
  describe(`seed on ${provider}`, () => {
    test('creates the admin user and the default pack, then reports both as existing', async (t) => {
      const db = await migrated(t, provider);
      const first = await seed(db, { ADMIN_PASSWORD: PASSWORD });
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /^✓ Admin user admin created$/m);
      assert.match(first.stdout, /^✓ Default pack Default created$/m);
      const second = await seed(db, { ADMIN_PASSWORD: PASSWORD });
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /^Admin user admin exists$/m);
      assert.match(second.stdout, /^Default pack Default exists$/m);
      for (const run of [first, second]) assert.ok(!`${run.stdout}${run.stderr}`.includes(PASSWORD), 'the password is never printed');

      const conn = await db.connect();
      const admins = await conn.query<{ username: string; passwordHash: string; createdAt: unknown }>('SELECT "username", "passwordHash", "createdAt" FROM "AdminUser"');
      assert.equal(admins.length, 1);
      assert.equal(admins[0].username, 'admin');
      assert.notEqual(admins[0].passwordHash, PASSWORD);
      assert.ok(!admins[0].passwordHash.includes(PASSWORD));
      assert.equal(await verifyPassword(PASSWORD, admins[0].passwordHash), true);
      assert.ok(Math.abs(Number(admins[0].createdAt) - Date.now()) < 5 * 60_000, 'createdAt is epoch milliseconds');
      const packs = await conn.query<{ name: string; isDefault: unknown }>('SELECT "name", "isDefault" FROM "Pack"');
      assert.deepEqual(packs.map((p) => [p.name, Boolean(p.isDefault)]), [['Default', true]]);
    });

    test('honours ADMIN_USERNAME and DEFAULT_PACK_NAME, and keeps an existing default pack of another name', async (t) => {
      const db = await migrated(t, provider);
      const first = await seed(db, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: PASSWORD, DEFAULT_PACK_NAME: 'Starter' });
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /^✓ Admin user root created$/m);
      assert.match(first.stdout, /^✓ Default pack Starter created$/m);
      const second = await seed(db, { ADMIN_USERNAME: 'root', DEFAULT_PACK_NAME: 'Other' });
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /^Admin user root exists$/m, 'an existing admin needs no password');
      assert.match(second.stdout, /^Default pack Starter exists$/m);
      const conn = await db.connect();
      assert.equal((await conn.query('SELECT 1 FROM "Pack"')).length, 1);
    });

    test('two seeders at once create exactly one admin user and one default pack', async (t) => {
      const db = await migrated(t, provider);
      const runs = await Promise.all([1, 2, 3].map(() => seed(db, { ADMIN_PASSWORD: PASSWORD })));
      for (const run of runs) assert.equal(run.code, 0, run.stderr);
      const all = runs.map((r) => r.stdout).join('\n');
      assert.equal(all.match(/✓ Admin user admin created/g)?.length, 1, all);
      assert.equal(all.match(/✓ Default pack Default created/g)?.length, 1, all);
      const conn = await db.connect();
      assert.equal((await conn.query('SELECT 1 FROM "AdminUser"')).length, 1);
      const packs = await conn.query<{ isDefault: unknown }>('SELECT "isDefault" FROM "Pack"');
      assert.deepEqual(packs.map((p) => Boolean(p.isDefault)), [true]);
    });

    test('racing seeders in one process: the loser of each unique constraint re-reads and reports exists', async (t) => {
      const db = await migrated(t, provider);
      const clients = await Promise.all([createClient(db.target), createClient(db.target)]);
      t.after(() => Promise.all(clients.map((c) => c.$disconnect())));
      const options = { adminUsername: 'admin', adminPassword: PASSWORD, defaultPackName: 'Default' };
      // Both read "missing" before either writes: the inserts collide on the unique indexes.
      const results = await Promise.all(clients.map((client) => seedDatabase(client, options)));
      assert.deepEqual(results.map((r) => r.admin).sort(), ['created', 'exists']);
      assert.deepEqual(results.map((r) => r.pack).sort(), ['created', 'exists']);
      for (const result of results) assert.ok(!JSON.stringify(result).includes(PASSWORD));
    });

    test('a pack named like the default one, but not the default, is made the default', async (t) => {
      const db = await migrated(t, provider);
      const conn = await db.connect();
      await conn.query('INSERT INTO "Pack" ("name", "isDefault", "createdAt", "updatedAt") VALUES ($1, $2, $3, $4)', ['Default', false, Date.now(), Date.now()]);
      const run = await seed(db);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^✓ Pack Default is now the default pack$/m);
      const packs = await conn.query<{ name: string; isDefault: unknown }>('SELECT "name", "isDefault" FROM "Pack"');
      assert.deepEqual(packs.map((p) => [p.name, Boolean(p.isDefault)]), [['Default', true]]);
    });

    test('without ADMIN_PASSWORD skips the admin user with a warning and still succeeds', async (t) => {
      const db = await migrated(t, provider);
      const run = await seed(db);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /^ADMIN_PASSWORD is not set: skipping the admin user$/m);
      assert.match(run.stdout, /^✓ Default pack Default created$/m);
      const conn = await db.connect();
      assert.equal((await conn.query('SELECT 1 FROM "AdminUser"')).length, 0);
    });

    test('an ADMIN_PASSWORD under 12 characters, or an unexpanded ${…}, is refused in one line, exit 2, nothing written; RESET_PASSWORD=1 gives the admin a new one', async (t) => {
      const db = await migrated(t, provider);
      const unexpanded = await seed(db, { ADMIN_PASSWORD: '${ADMIN_PASSWORD:-}' });
      assert.equal(unexpanded.code, 2, unexpanded.stderr);
      assert.equal(unexpanded.stderr, 'Error: ADMIN_PASSWORD is the unexpanded text ${ADMIN_PASSWORD:-}: set it in the environment (or .env) that the container engine reads\n');
      const short = await seed(db, { ADMIN_PASSWORD: 'a' });
      assert.equal(short.code, 2, short.stderr);
      assert.equal(short.stderr, 'Error: ADMIN_PASSWORD must be at least 12 characters (it has 1); choose a longer one\n');
      const conn = await db.connect();
      assert.equal((await conn.query('SELECT 1 FROM "AdminUser"')).length, 0, 'nothing created');
      assert.equal((await seed(db, { ADMIN_PASSWORD: PASSWORD })).code, 0);
      const renewed = `${PASSWORD}-renewed`;
      const reset = await runScript('seed', ['--reset-password'], { env: { DATABASE_URL: db.url, ADMIN_USERNAME: '', ADMIN_PASSWORD: renewed } });
      assert.equal(reset.code, 0, reset.stderr);
      assert.match(reset.stdout, /^✓ Admin user admin has a new password$/m);
      const [admin] = await conn.query<{ passwordHash: string }>('SELECT "passwordHash" FROM "AdminUser"');
      assert.equal(await verifyPassword(renewed, admin?.passwordHash ?? ''), true);
      assert.equal(await verifyPassword(PASSWORD, admin?.passwordHash ?? ''), false);
      assert.ok(!reset.stdout.includes(renewed) && !reset.stderr.includes(renewed), 'never printed');
    });

    test('an unmigrated database fails with one line that names make deploy', async (t) => {
      const db = await testDatabase(t, provider);
      const run = await seed(db, { ADMIN_PASSWORD: PASSWORD });
      assert.equal(run.code, 1, run.stderr);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.match(run.stderr, /^Error: The database is not migrated.*make deploy/);
      assert.ok(!run.stderr.includes(PASSWORD));
    });
  });
}
