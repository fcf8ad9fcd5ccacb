/**
 * `migrate create` on a copy of prisma/ (PRISMA_DIR): the dev database is a temp
 * SQLite file, PostgreSQL SQL is computed on the test server (SHADOW_DATABASE_URL),
 * and the clients are generated beside the copy, never into the project's src/generated.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { openConnection, parseDatabaseUrl, projectRoot } from '../../src/db.ts';
import { assertCleanFailure, migrate, migrationNames, output, rows, tables } from '../fixtures/kit.ts';
import { copyPrismaDir, runScript, serverUrl, tempDir, testDatabase } from '../helpers.ts';

const WIDGET = '\nmodel Widget {\n  id    Int    @id @default(autoincrement())\n  label String\n}\n';

interface Sandbox {
  prisma: string;
  devUrl: string;
  devFile: string;
  env: NodeJS.ProcessEnv;
  create(...args: string[]): ReturnType<typeof migrate>;
  editSchema(change: (text: string) => string): void;
}

function sandbox(t: TestContext): Sandbox {
  const prisma = copyPrismaDir(t);
  const devFile = join(tempDir(t), 'dev.db');
  const devUrl = `file:${devFile}`;
  const env = { PRISMA_DIR: prisma, SHADOW_DATABASE_URL: serverUrl() };
  const schemaFile = join(prisma, 'schema.prisma');
  return {
    prisma,
    devUrl,
    devFile,
    env,
    create: (...args) => migrate(devUrl, ['create', ...args], env),
    editSchema: (change) => writeFileSync(schemaFile, change(readFileSync(schemaFile, 'utf8'))),
  };
}

const NEW_NAME = (name: string) => new RegExp(`^\\d{14}_${name}$`);
const newFolders = (before: string[], after: string[]) => after.filter((name) => !before.includes(name));

// Each test has its own copy, dev database and generated clients: they may run side by side.
describe('migrate create', { concurrency: 3 }, () => {
  test('a new model becomes one migration in both dialects, applied to the dev database, clients generated beside the schema', async (t) => {
    const box = sandbox(t);
    const before = migrationNames(box.prisma, 'sqlite');
    box.editSchema((text) => text + WIDGET);
    const result = await box.create('--name', 'add_widget');
    assert.equal(result.code, 0, output(result));

    const [sqliteName] = newFolders(before, migrationNames(box.prisma, 'sqlite'));
    assert.match(sqliteName ?? '', NEW_NAME('add_widget'));
    assert.deepEqual(newFolders(before, migrationNames(box.prisma, 'postgresql')), [sqliteName], 'same name in both histories');
    const sqliteSql = readFileSync(join(box.prisma, 'migrations', 'sqlite', sqliteName!, 'migration.sql'), 'utf8');
    const postgresSql = readFileSync(join(box.prisma, 'migrations', 'postgresql', sqliteName!, 'migration.sql'), 'utf8');
    assert.match(sqliteSql, /CREATE TABLE "Widget"[\s\S]*INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT/);
    assert.match(postgresSql, /CREATE TABLE "Widget"[\s\S]*SERIAL NOT NULL/);
    assert.match(result.stdout, new RegExp(`Applied ${sqliteName} to the dev database`));

    const dev = await openConnection(parseDatabaseUrl(box.devUrl));
    t.after(() => dev.close());
    assert.ok((await tables(dev)).includes('Widget'));
    assert.ok((await rows(dev)).some((r) => r.migration_name === sqliteName && r.finished_at));

    // Generated from the copy, next to it: the project's own clients are not touched.
    const generated = join(dirname(box.prisma), 'src', 'generated');
    assert.ok(existsSync(join(generated, 'sqlite', 'models', 'Widget.ts')), 'sqlite client generated beside the copy');
    assert.ok(existsSync(join(generated, 'postgresql', 'models', 'Widget.ts')), 'postgresql client generated beside the copy');
    assert.ok(existsSync(join(generated, '.schema-hash')), 'the stamp follows the clients');
    assert.ok(!existsSync(join(projectRoot, 'src', 'generated', 'sqlite', 'models', 'Widget.ts')), 'src/generated untouched');
    assert.match(readFileSync(join(box.prisma, 'schema.postgresql.prisma'), 'utf8'), /model Widget/);

    // The PostgreSQL history applies on a real PostgreSQL database.
    const pg = await testDatabase(t, 'postgresql');
    const deployed = await migrate(pg.url, ['deploy'], { PRISMA_DIR: box.prisma });
    assert.equal(deployed.code, 0, output(deployed));
    assert.ok((await tables(await pg.connect())).includes('Widget'));
  });

  test('with a PostgreSQL dev database, the shadow is made on that server and the migration applied there', async (t) => {
    const box = sandbox(t);
    const pg = await testDatabase(t, 'postgresql');
    const env = { PRISMA_DIR: box.prisma, SHADOW_DATABASE_URL: undefined };
    assert.equal((await migrate(pg.url, ['deploy'], env)).code, 0);
    box.editSchema((text) => text + WIDGET);
    const result = await migrate(pg.url, ['create', '--name', 'add_widget'], env);
    assert.equal(result.code, 0, output(result));
    assert.doesNotMatch(result.stderr, /embedded PostgreSQL/, 'no second server started');
    const conn = await pg.connect();
    assert.ok((await tables(conn)).includes('Widget'));
    const status = await migrate(pg.url, ['status'], env);
    assert.equal(status.code, 0, output(status));
  });

  test('an @@index and an @unique on an existing table: a following migration of their own builds them CONCURRENTLY on PostgreSQL; both deploy on both providers; parity holds', async (t) => {
    const box = sandbox(t);
    assert.equal((await migrate(box.devUrl, ['deploy'], box.env)).code, 0);
    const before = migrationNames(box.prisma, 'postgresql');
    box.editSchema((text) => text.replace('  description String?\n', '  description String?\n  slug        String? @unique\n').replace(/(model Pack \{[\s\S]*?)\n\}/, '$1\n  @@index([description])\n}'));
    const result = await box.create('--name', 'pack_lookup');
    assert.equal(result.code, 0, output(result));
    const added = newFolders(before, migrationNames(box.prisma, 'postgresql'));
    assert.equal(added.length, 2, `two migrations: ${added.join(', ')}`);
    assert.match(added[0]!, NEW_NAME('pack_lookup'));
    assert.match(added[1]!, NEW_NAME('pack_lookup_indexes'));
    assert.deepEqual(newFolders(before, migrationNames(box.prisma, 'sqlite')), added, 'the same names in both folders');
    const read = (provider: string, name: string) => readFileSync(join(box.prisma, 'migrations', provider, name, 'migration.sql'), 'utf8');
    assert.match(read('postgresql', added[0]!), /ALTER TABLE "Pack" ADD COLUMN\s+"slug" TEXT/);
    assert.doesNotMatch(read('postgresql', added[0]!), /CREATE (UNIQUE )?INDEX/, 'no plain index build left in the change');
    const builds = read('postgresql', added[1]!);
    assert.match(builds, /^CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "Pack_slug_key" ON "Pack"\("slug"\);$/m);
    assert.match(builds, /^CREATE INDEX CONCURRENTLY IF NOT EXISTS "Pack_description_idx" ON "Pack"\("description"\);$/m);
    assert.match(read('sqlite', added[1]!), /^CREATE UNIQUE INDEX "Pack_slug_key" ON "Pack"\("slug"\);$/m, 'SQLite keeps Prisma\'s statement, in the same place of the history');
    assert.match(result.stdout, new RegExp(`${added[1]} builds the indexes on existing tables CONCURRENTLY`));
    for (const name of added) assert.match(result.stdout, new RegExp(`Applied ${name} to the dev database`));

    const pg = await testDatabase(t, 'postgresql');
    const deployed = await migrate(pg.url, ['deploy'], { PRISMA_DIR: box.prisma });
    assert.equal(deployed.code, 0, output(deployed));
    assert.match(deployed.stderr + deployed.stdout, new RegExp(`${added[1]}.*(cannot run in a transaction|without a transaction|builds indexes CONCURRENTLY)`));
    const valid = await (await pg.connect()).query<{ indexrelid: string; indisvalid: boolean }>(`SELECT indexrelid::regclass::text AS indexrelid, indisvalid FROM pg_index WHERE indrelid = '"Pack"'::regclass ORDER BY 1`);
    assert.deepEqual(valid.filter((row) => /slug|description/.test(row.indexrelid)).map((row) => [row.indexrelid, row.indisvalid]), [['"Pack_description_idx"', true], ['"Pack_slug_key"', true]]);
    const parity = await runScript('parity', [], { env: { SHADOW_DATABASE_URL: serverUrl(), PRISMA_DIR: box.prisma } });
    assert.equal(parity.code, 0, output(parity));
  });

  test('CONCURRENT_INDEXES=0 keeps Prisma\'s one migration with its plain CREATE INDEX', async (t) => {
    const box = sandbox(t);
    assert.equal((await migrate(box.devUrl, ['deploy'], box.env)).code, 0);
    const before = migrationNames(box.prisma, 'postgresql');
    box.editSchema((text) => text.replace(/(model Pack \{[\s\S]*?)\n\}/, '$1\n  @@index([description])\n}'));
    const result = await migrate(box.devUrl, ['create', '--name', 'pack_description'], { ...box.env, CONCURRENT_INDEXES: '0' });
    assert.equal(result.code, 0, output(result));
    const added = newFolders(before, migrationNames(box.prisma, 'postgresql'));
    assert.equal(added.length, 1);
    assert.match(readFileSync(join(box.prisma, 'migrations', 'postgresql', added[0]!, 'migration.sql'), 'utf8'), /^CREATE INDEX "Pack_description_idx" ON "Pack"\("description"\);$/m);
  });

  test('--create-only writes both migrations without applying them', async (t) => {
    const box = sandbox(t);
    assert.equal((await migrate(box.devUrl, ['deploy'], box.env)).code, 0);
    const before = migrationNames(box.prisma, 'sqlite');
    box.editSchema((text) => text + WIDGET);
    const result = await box.create('--name', 'add_widget', '--create-only');
    assert.equal(result.code, 0, output(result));
    const added = newFolders(before, migrationNames(box.prisma, 'sqlite'));
    assert.equal(added.length, 1);
    assert.deepEqual(newFolders(before, migrationNames(box.prisma, 'postgresql')), added);
    assert.doesNotMatch(result.stdout, /Applied/);
    const dev = await openConnection(parseDatabaseUrl(box.devUrl));
    t.after(() => dev.close());
    assert.ok(!(await tables(dev)).includes('Widget'), 'not applied');
    const status = await migrate(box.devUrl, ['status', '--json'], box.env);
    assert.deepEqual(JSON.parse(status.stdout).pending, added);
  });

  test('an unchanged schema: "No schema changes", exit 0, nothing written, no database created', async (t) => {
    const box = sandbox(t);
    const before = [migrationNames(box.prisma, 'sqlite'), migrationNames(box.prisma, 'postgresql')];
    const result = await box.create('--name', 'nothing');
    assert.equal(result.code, 0, output(result));
    assert.match(result.stdout, /No schema changes/);
    assert.deepEqual([migrationNames(box.prisma, 'sqlite'), migrationNames(box.prisma, 'postgresql')], before);
    assert.equal(existsSync(box.devFile), false);
  });

  test('a change that drops data is refused without --accept-data-loss, listing what is lost; with it (and --allow-breaking), it proceeds', async (t) => {
    const box = sandbox(t);
    assert.equal((await migrate(box.devUrl, ['deploy'], box.env)).code, 0);
    const dev = await openConnection(parseDatabaseUrl(box.devUrl));
    t.after(() => dev.close());
    await dev.exec(`INSERT INTO "Pack" ("name", "description", "isDefault", "createdAt", "updatedAt") VALUES ('Default', 'kept until now', 1, 0, 0)`);
    const before = migrationNames(box.prisma, 'sqlite');
    box.editSchema((text) => text.replace(/^\s*description\s+String\?\n/m, ''));

    const refused = await box.create('--name', 'drop_pack_description');
    assertCleanFailure(refused, 2, /may lose data/);
    assert.match(refused.stderr, /drop the column `description` on the `Pack` table \(1 row/);
    assert.match(refused.stderr, /--accept-data-loss/);
    assert.match(refused.stderr, /Nothing was written/);
    assert.deepEqual(migrationNames(box.prisma, 'sqlite'), before);
    assert.deepEqual(migrationNames(box.prisma, 'postgresql'), before);

    // Dropping a column also breaks the release still running: that takes its own flag.
    const breaking = await box.create('--name', 'drop_pack_description', '--accept-data-loss');
    assertCleanFailure(breaking, 2, /breaks the release still running during a deploy/);
    assert.deepEqual(migrationNames(box.prisma, 'sqlite'), before);

    const accepted = await box.create('--name', 'drop_pack_description', '--accept-data-loss', '--allow-breaking');
    assert.equal(accepted.code, 0, output(accepted));
    assert.equal(newFolders(before, migrationNames(box.prisma, 'sqlite')).length, 1);
    const columns = await dev.query<{ name: string }>(`SELECT name FROM pragma_table_info('Pack')`);
    assert.ok(!columns.some((c) => c.name === 'description'), 'the column is gone from the dev database');
    assert.equal((await dev.query(`SELECT * FROM "Pack"`)).length, 1, 'the row itself survives');
  });

  test('one ALTER TABLE with several clauses (a field dropped, a required one added, a default with a comma): every clause is judged', async (t) => {
    const box = sandbox(t);
    assert.equal((await migrate(box.devUrl, ['deploy'], box.env)).code, 0);
    const dev = await openConnection(parseDatabaseUrl(box.devUrl));
    t.after(() => dev.close());
    await dev.exec(`INSERT INTO "Pack" ("name", "description", "isDefault", "createdAt", "updatedAt") VALUES ('Default', 'kept', 1, 0, 0)`);
    box.editSchema((text) => text.replace(/^\s*description\s+String\?\n/m, '\n  motto String @default("a, b")\n  code String\n'));
    const before = migrationNames(box.prisma, 'sqlite');

    const refused = await box.create('--name', 'pack_code', '--create-only');
    assertCleanFailure(refused, 2, /may lose data/);
    assert.match(refused.stderr, /drop the column `description` on the `Pack` table \(1 row/);
    const accepted = await box.create('--name', 'pack_code', '--accept-data-loss');
    assertCleanFailure(accepted, 2, /cannot be applied to the existing data/);
    assert.match(accepted.stderr, /Added the required column `code` to the `Pack` table without a default value\. There are 1 rows/);
    assert.doesNotMatch(accepted.stderr, /`motto`/, 'the column with a default is fine');
    assert.deepEqual(migrationNames(box.prisma, 'sqlite'), before, 'nothing written');
  });

  test('a dev database that cannot be read is not "no data to lose": refused naming it, nothing written', async (t) => {
    const box = sandbox(t);
    writeFileSync(box.devFile, 'this is not a SQLite database, but it may hold someone\'s data\n'.repeat(100));
    box.editSchema((text) => text.replace(/^\s*description\s+String\?\n/m, ''));
    const before = migrationNames(box.prisma, 'sqlite');
    const result = await box.create('--name', 'drop_pack_description', '--accept-data-loss', '--allow-breaking');
    assertCleanFailure(result, 1, /file is not a database/);
    assert.deepEqual(migrationNames(box.prisma, 'sqlite'), before, 'nothing written');
    assert.match(readFileSync(box.devFile, 'utf8'), /^this is not a SQLite database/, 'the file is untouched');
  });

  test('a missing or malformed name is bad usage: exit 2, nothing written', async (t) => {
    const box = sandbox(t);
    box.editSchema((text) => text + WIDGET);
    const before = migrationNames(box.prisma, 'sqlite');
    const cases = [[], ['--name'], ['--name', ''], ['--name', 'add widget'], ['--name', 'add/widget'], ['--name', '../escape']];
    const results = await Promise.all(cases.map((args) => box.create(...args)));
    for (const result of results) assertCleanFailure(result, 2);
    assert.match(results[0]!.stderr, /A migration name is required/);
    assert.match(results[3]!.stderr, /Invalid migration name "add widget": use letters, digits, _ and - only/);
    assert.deepEqual(migrationNames(box.prisma, 'sqlite'), before);
    assert.deepEqual(migrationNames(box.prisma, 'postgresql'), before);
  });
});
