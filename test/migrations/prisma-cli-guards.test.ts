/**
 * The official CLI on the kit's engine where a mistake destroys data: the database a
 * relative SQLite URL means, the destructive commands in production, and what must fail
 * before anything is written (a missing SQLite file is never created by a read, a bad URL
 * is P1013 naming where it came from).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { projectRoot } from '../../src/db.ts';
import { BLOG_INIT_SQL, BLOG_SCHEMA, SQLITE_LOCK, config, fixture, output, prisma } from '../cli-contract/harness.ts';
import { execCapture, childEnv, testDatabase } from '../helpers.ts';

const tables = (file: string) => {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as { name: string }[]).map((row) => row.name);
  } finally {
    db.close();
  }
};

const PRODUCTION = { NODE_ENV: 'production' };
const REFUSED = /^Error: Refusing to .*: NODE_ENV is "production"\. If this production database is really to be thrown away, run this one command with ALLOW_DESTRUCTIVE_IN_PRODUCTION=true\.$/m;

/** A project whose config is in sub/, next to its database, and a database of the same name at the root it must never touch. */
function nestedProject(t: Parameters<typeof fixture>[0]): string {
  return fixture(
    t,
    {
      'sub/prisma.config.ts': config('file:dev.db'),
      'sub/schema.prisma': BLOG_SCHEMA,
      'sub/migrations/20201014154943_init/migration.sql': BLOG_INIT_SQL,
      'sub/migrations/migration_lock.toml': SQLITE_LOCK,
    },
    { 'dev.db': 'CREATE TABLE "Unrelated" ("id" INTEGER PRIMARY KEY); INSERT INTO "Unrelated" VALUES (1);' },
  );
}

test('a relative SQLite URL means the file next to the config that names it: deploy, reset, push and diff use sub/dev.db, never the one in the working directory', async (t) => {
  const dir = nestedProject(t);
  const args = ['--config', 'sub/prisma.config.ts'];
  const deployed = await prisma(dir, ['migrate', 'deploy', ...args]);
  assert.equal(deployed.code, 0, output(deployed));
  assert.deepEqual(tables(join(dir, 'sub', 'dev.db')), ['Blog', '_prisma_migrations']);
  const reset = await prisma(dir, ['migrate', 'reset', '--force', ...args]);
  assert.equal(reset.code, 0, output(reset));
  assert.deepEqual(tables(join(dir, 'sub', 'dev.db')), ['Blog', '_prisma_migrations'], 'reset re-applied the history to sub/dev.db');
  const diffed = await prisma(dir, ['migrate', 'diff', '--from-config-datasource', '--to-schema', 'sub/schema.prisma', ...args]);
  assert.equal(diffed.code, 0, output(diffed));
  assert.match(diffed.stdout, /^No difference detected\.$/m);
  const pushed = await prisma(dir, ['db', 'push', ...args]);
  assert.equal(pushed.code, 0, output(pushed));
  assert.deepEqual(tables(join(dir, 'dev.db')), ['Unrelated'], 'the database in the working directory was never touched');
});

test('migrate reset, db push --force-reset, drop-database and a db execute that drops a schema refuse in production; nothing changes; ALLOW_DESTRUCTIVE_IN_PRODUCTION=true lets one through', async (t) => {
  const dir = nestedProject(t);
  const args = ['--config', 'sub/prisma.config.ts'];
  assert.equal((await prisma(dir, ['migrate', 'deploy', ...args])).code, 0);
  const file = join(dir, 'sub', 'dev.db');
  const db = new Database(file);
  db.exec('INSERT INTO "Blog" VALUES (1, 42)');
  db.close();
  const blogRows = () => {
    const conn = new Database(file, { readonly: true });
    try {
      return (conn.prepare('SELECT count(*) AS n FROM "Blog"').get() as { n: number }).n;
    } finally {
      conn.close();
    }
  };
  for (const command of [
    ['migrate', 'reset', '--force'],
    ['db', 'push', '--force-reset'],
  ]) {
    const refused = await prisma(dir, [...command, ...args], PRODUCTION);
    assert.equal(refused.code, 1, output(refused));
    assert.match(refused.stderr, REFUSED, command.join(' '));
    assert.equal(blogRows(), 1, `${command.join(' ')} changed nothing`);
  }
  const dropped = await new Promise<{ code: number; stderr: string }>((resolve) => {
    const run = execCapture(join(projectRoot, 'bin', 'schema-engine'), ['--datasource', JSON.stringify({ url: 'file:dev.db' }), 'cli', 'drop-database'], {
      cwd: join(dir, 'sub'),
      env: childEnv({ NODE_ENV: 'production' }),
    });
    void run.done.then(resolve);
  });
  assert.equal(dropped.code, 1);
  assert.match(dropped.stderr, /"message":"Refusing to drop the database: NODE_ENV is \\"production\\"/);
  assert.ok(existsSync(file) && blogRows() === 1, 'drop-database changed nothing');

  const pg = await testDatabase(t, 'postgresql');
  const conn = await pg.connect();
  await conn.exec('CREATE TABLE "Kept" ("id" INTEGER PRIMARY KEY); INSERT INTO "Kept" VALUES (1)');
  const script = 'DROP SCHEMA public CASCADE;\nCREATE SCHEMA public;\n';
  const onServer = fixture(t, { 'prisma.config.ts': config(pg.url), 'prisma/schema.prisma': BLOG_SCHEMA.replace('"sqlite"', '"postgresql"') });
  const executed = await prisma(onServer, ['db', 'execute', '--stdin'], PRODUCTION, script);
  assert.equal(executed.code, 1, output(executed));
  assert.match(executed.stderr, /^Error: Refusing to run a script that drops a schema: NODE_ENV is "production"/m);
  assert.equal((await conn.query<{ n: number }>('SELECT count(*)::int AS n FROM "Kept"'))[0]?.n, 1, 'nothing dropped');
  const allowed = await prisma(dir, ['migrate', 'reset', '--force', ...args], { ...PRODUCTION, ALLOW_DESTRUCTIVE_IN_PRODUCTION: 'true' });
  assert.equal(allowed.code, 0, output(allowed));
  assert.equal(blogRows(), 0, 'the override reset it');
});

test('an empty migrations folder: migrate deploy and migrate reset --force exit 0 as Prisma does, on both providers', async (t) => {
  const pg = await testDatabase(t, 'postgresql');
  for (const url of ['file:dev.db', pg.url]) {
    const dir = fixture(t, { 'prisma.config.ts': config(url), 'prisma/schema.prisma': BLOG_SCHEMA.replace('"sqlite"', url.startsWith('file:') ? '"sqlite"' : '"postgresql"') });
    const deployed = await prisma(dir, ['migrate', 'deploy']);
    assert.equal(deployed.code, 0, output(deployed));
    assert.match(deployed.stdout, /^No pending migrations to apply\.$/m);
    const reset = await prisma(dir, ['migrate', 'reset', '--force']);
    assert.equal(reset.code, 0, output(reset));
    assert.match(reset.stdout, /^Database reset successful$/m);
  }
});

test('migrate diff against a missing SQLite file is P1003 and creates nothing; a malformed URL is P1013 naming prisma.config.ts', async (t) => {
  const dir = fixture(t, { 'prisma.config.ts': config('file:./missing/dev.db'), 'prisma/schema.prisma': BLOG_SCHEMA });
  const diffed = await prisma(dir, ['migrate', 'diff', '--from-config-datasource', '--to-schema', 'prisma/schema.prisma']);
  assert.equal(diffed.code, 1, output(diffed));
  assert.match(diffed.stderr, /^Error: P1003$/m);
  assert.match(diffed.stderr, /^Database `dev\.db` does not exist$/m);
  assert.equal(existsSync(join(dir, 'missing')), false, 'no folder, no file');

  const bad = fixture(t, { 'prisma.config.ts': config('postgresql://user:pa@ss@host/db'), 'prisma/schema.prisma': BLOG_SCHEMA.replace('"sqlite"', '"postgresql"') });
  const executed = await prisma(bad, ['db', 'execute', '--stdin'], {}, 'SELECT 1;');
  assert.equal(executed.code, 1, output(executed));
  assert.match(executed.stderr, /^Error: P1013$/m);
  assert.match(executed.stderr, /^The provided database string is invalid\. the datasource url of prisma\.config\.ts \(postgresql:\/\/user:\*\*\*@host\/db\) holds a password with unencoded special characters/m);
  assert.doesNotMatch(executed.stderr, /DATABASE_URL|pa@ss/);
});

test('db execute of a DROP DATABASE of a missing PostgreSQL database is P1003', async (t) => {
  const pg = await testDatabase(t, 'postgresql');
  const dir = fixture(t, { 'prisma.config.ts': config(pg.url), 'prisma/schema.prisma': BLOG_SCHEMA.replace('"sqlite"', '"postgresql"') });
  const executed = await prisma(dir, ['db', 'execute', '--stdin'], { ALLOW_DESTRUCTIVE_IN_PRODUCTION: undefined }, 'DROP DATABASE "rastar_no_such_database";');
  assert.equal(executed.code, 1, output(executed));
  assert.match(executed.stderr, /^Error: P1003$/m);
  assert.match(executed.stderr, /rastar_no_such_database/);
});
