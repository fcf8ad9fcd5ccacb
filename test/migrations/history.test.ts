import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createMigrationAdapterFactory, openConnection, parseDatabaseUrl } from '../../src/db.ts';
import { KitError } from '../../src/errors.ts';
import { NO_FILTER, openEngine, toMigrationList } from '../../src/authoring/engine.ts';
import { checksumMatches, checksumOf, lockfileProvider, lockfileText, readHistory, type History } from '../../src/runtime/history.ts';
import { migrate, migrationNames, output } from '../fixtures/kit.ts';
import { PROVIDERS, copyPrismaDir, tempDir } from '../helpers.ts';

const LF = '-- CreateTable\nCREATE TABLE "A" (\n    "id" INTEGER NOT NULL PRIMARY KEY\n);\n';
const CRLF = LF.replace(/\n/g, '\r\n');

/** The checksums Prisma's own engine records when it applies `scripts` to a fresh SQLite database. */
async function engineChecksums(dir: string, scripts: string[]): Promise<string[]> {
  const target = parseDatabaseUrl(`file:${join(dir, 'engine.db')}`);
  const history: History = {
    provider: 'sqlite',
    dir,
    lockfile: lockfileText('sqlite'),
    migrations: scripts.map((script, i) => ({ name: `2020010100000${i}_m${i}`, script, checksum: checksumOf(script) })),
  };
  const engine = await openEngine('schema.prisma', 'datasource db {\n  provider = "sqlite"\n}\n', await createMigrationAdapterFactory(target));
  try {
    await engine.call((e) => e.applyMigrations({ migrationsList: toMigrationList(history), filters: NO_FILTER }));
  } finally {
    await engine.close();
  }
  const conn = await openConnection(target);
  try {
    return (await conn.query<{ checksum: string }>('SELECT checksum FROM "_prisma_migrations" ORDER BY migration_name')).map((r) => r.checksum);
  } finally {
    await conn.close();
  }
}

describe('checksums', () => {
  test('checksumOf equals the checksum Prisma\'s engine records, for LF and CRLF files', async (t) => {
    const recorded = await engineChecksums(tempDir(t), [LF, CRLF.replace('"A"', '"B"')]);
    assert.deepEqual(recorded, [checksumOf(LF), checksumOf(CRLF.replace('"A"', '"B"'))]);
    assert.match(recorded[0]!, /^[0-9a-f]{64}$/);
  });

  test('a checksum matches the same script with the other line endings, and nothing else', () => {
    assert.ok(checksumMatches(CRLF, checksumOf(LF)), 'CRLF checkout of an LF-applied file');
    assert.ok(checksumMatches(LF, checksumOf(CRLF)), 'LF checkout of a CRLF-applied file');
    assert.ok(checksumMatches(LF, checksumOf(LF)));
    assert.ok(!checksumMatches(`${LF}-- edited\n`, checksumOf(LF)));
    assert.ok(!checksumMatches(LF.replace('"id"', '"ID"'), checksumOf(LF)));
  });

  test('a checksum Prisma 2 recorded (each byte without its leading zero) matches its script, and only it', () => {
    // Prisma's own fixture: the init migration applied by Prisma 2.x.
    const init = '-- CreateTable\nCREATE TABLE "Blog" (\n    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,\n    "viewCount20" INTEGER NOT NULL\n);\n';
    assert.equal(checksumOf(init), 'd57e2042fcd9a3ed1b003b1f9a3a1fe754dd1ed667045e9c7ac90bcf59ad470d');
    assert.ok(checksumMatches(init, 'd57e2042fcd9a3ed1b03b1f9a3a1fe754dd1ed66745e9c7ac9bcf59ad47d'));
    assert.ok(!checksumMatches(`${init}-- edited\n`, 'd57e2042fcd9a3ed1b03b1f9a3a1fe754dd1ed66745e9c7ac9bcf59ad47d'));
  });

  // Line endings are a matter of files, not of the database: SQLite is enough end to end.
  test('a git autocrlf checkout of an applied history does not read as edited (kit and Prisma agree)', async (t) => {
    const provider = 'sqlite';
    const prisma = copyPrismaDir(t);
    const url = `file:${join(tempDir(t), 'dev.db')}`;
    assert.equal((await migrate(url, ['deploy'], { PRISMA_DIR: prisma })).code, 0);
    for (const name of migrationNames(prisma, provider)) {
      const file = join(prisma, 'migrations', provider, name, 'migration.sql');
      writeFileSync(file, readFileSync(file, 'utf8').replace(/\r?\n/g, '\r\n'));
    }
    const history = readHistory(provider, join(prisma, 'migrations', provider));
    assert.ok(history.migrations.every((m) => m.script.includes('\r\n')));
    const status = await migrate(url, ['status', '--json'], { PRISMA_DIR: prisma });
    assert.equal(status.code, 0, output(status));
    assert.deepEqual(JSON.parse(status.stdout).edited, []);

    const target = parseDatabaseUrl(url);
    const engine = await openEngine('schema.prisma', 'datasource db {\n  provider = "sqlite"\n}\n', await createMigrationAdapterFactory(target));
    try {
      const diagnosis = await engine.call((e) => e.diagnoseMigrationHistory({ migrationsList: toMigrationList(history), optInToShadowDatabase: false, filters: NO_FILTER }));
      assert.deepEqual(diagnosis.editedMigrationNames, []);
    } finally {
      await engine.close();
    }
  });
});

describe('readHistory', () => {
  test('reads migration folders in name order, with the lock file, ignoring loose files', (t) => {
    const dir = join(tempDir(t), 'sqlite');
    for (const name of ['20240102000000_b', '20240101000000_a']) {
      mkdirSync(join(dir, name), { recursive: true });
      writeFileSync(join(dir, name, 'migration.sql'), `-- ${name}\n`);
    }
    writeFileSync(join(dir, 'migration_lock.toml'), lockfileText('sqlite'));
    writeFileSync(join(dir, 'README.md'), 'not a migration');
    const history = readHistory('sqlite', dir);
    assert.deepEqual(history.migrations.map((m) => m.name), ['20240101000000_a', '20240102000000_b']);
    assert.equal(history.migrations[0]!.checksum, checksumOf('-- 20240101000000_a\n'));
    assert.equal(lockfileProvider(history.lockfile ?? ''), 'sqlite');
  });

  test('lazyScripts: the same names, checksums and scripts (a BOM, invalid UTF-8, a file larger than the read buffer); a script edited since is refused, naming its file', (t) => {
    const dir = join(tempDir(t), 'postgresql');
    const files: [string, Buffer][] = [
      ['20240101000000_bom', Buffer.from('\uFEFFCREATE TABLE "A" ("id" INTEGER);\n')],
      ['20240102000000_latin1', Buffer.from([...Buffer.from("INSERT INTO \"A\" VALUES (1); -- caf"), 0xe9, 0x0a])],
      ['20240103000000_large', Buffer.from(`-- ${'x'.repeat(200_000)}\nCREATE TABLE "B" ("id" INTEGER);\n`)],
    ];
    for (const [name, bytes] of files) {
      mkdirSync(join(dir, name), { recursive: true });
      writeFileSync(join(dir, name, 'migration.sql'), bytes);
    }
    const eager = readHistory('postgresql', dir);
    const lazy = readHistory('postgresql', dir, { lazyScripts: true });
    assert.deepEqual(lazy.migrations.map((m) => [m.name, m.checksum, m.script]), eager.migrations.map((m) => [m.name, m.checksum, m.script]));
    assert.equal(lazy.migrations[1]!.checksum, checksumOf(files[1]![1].toString('utf8')), 'invalid UTF-8: the checksum of the text as read, like Prisma');

    writeFileSync(join(dir, '20240101000000_bom', 'migration.sql'), 'DROP TABLE "A";\n');
    assert.throws(
      () => lazy.migrations[0]!.script,
      (error: unknown) => error instanceof KitError && /20240101000000_bom[/\\]migration\.sql changed while the kit was using it/.test(error.message),
    );
  });

  test('a missing folder is an empty history; a folder without migration.sql is an error naming it (P3015)', (t) => {
    assert.deepEqual(readHistory('postgresql', join(tempDir(t), 'none')).migrations, []);
    const dir = join(tempDir(t), 'postgresql');
    mkdirSync(join(dir, '20240101000000_empty'), { recursive: true });
    assert.throws(
      () => readHistory('postgresql', dir),
      (error: unknown) => error instanceof KitError && error.prismaCode === 'P3015' && /20240101000000_empty has no migration\.sql/.test(error.message),
    );
  });

  test('the project\'s two histories are in lockstep: same names, each locked to its provider', () => {
    const [sqlite, postgresql] = PROVIDERS.map((p) => readHistory(p));
    assert.deepEqual(sqlite!.migrations.map((m) => m.name), postgresql!.migrations.map((m) => m.name));
    assert.equal(lockfileProvider(sqlite!.lockfile ?? ''), 'sqlite');
    assert.equal(lockfileProvider(postgresql!.lockfile ?? ''), 'postgresql');
  });
});
