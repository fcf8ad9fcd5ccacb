import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readHistory } from '../../src/runtime/history.ts';
import type { MigrationStatus } from '../../src/runtime/status.ts';
import { EXTRA, HALF_WAY_SQL, MARKER_SQL, hasHistoryTable, migrate, migrationFile, output, removeMigration, writeMigration } from '../fixtures/kit.ts';
import { PROVIDERS, copyPrismaDir, tempDir, testDatabase } from '../helpers.ts';

/** What `status --json` prints: the library's status plus where it looked. */
interface StatusJson extends MigrationStatus {
  datasource: string;
  provider: string;
  migrationsDir: string;
  needsBaseline: boolean;
}

for (const provider of PROVIDERS) {
  const names = readHistory(provider).migrations.map((m) => m.name);
  const last = names.at(-1)!;

  describe(`status on ${provider}`, () => {
    test('a deployed database is up to date: every migration [X], exit 0', async (t) => {
      const db = await testDatabase(t, provider);
      assert.equal((await migrate(db.url, ['deploy'])).code, 0);
      const result = await migrate(db.url, ['status']);
      assert.equal(result.code, 0, output(result));
      for (const name of names) assert.match(result.stdout, new RegExp(`^\\[X\\] ${name}$`, 'm'));
      assert.match(result.stdout, new RegExp(`Applied: ${names.length}  Pending: 0  Failed: 0  Edited: 0  Unknown: 0`));
      assert.match(result.stdout, /Database schema is up to date!/);
    });

    test('pending migrations are listed, with the command that applies them, exit 1', async (t) => {
      const db = await testDatabase(t, provider);
      const older = copyPrismaDir(t);
      removeMigration(older, provider, last);
      assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: older })).code, 0);
      const result = await migrate(db.url, ['status']);
      assert.equal(result.code, 1, output(result));
      assert.match(result.stdout, new RegExp(`^\\[ \\] ${last}   pending$`, 'm'));
      assert.match(result.stdout, /Pending: 1 /);
      assert.match(result.stderr, /apply with: make deploy/);
    });

    test('a failed migration is listed with its error and both recovery commands, exit 1', async (t) => {
      const db = await testDatabase(t, provider);
      const prisma = copyPrismaDir(t);
      writeMigration(prisma, provider, EXTRA, HALF_WAY_SQL);
      assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma })).code, 1);
      const result = await migrate(db.url, ['status'], { PRISMA_DIR: prisma });
      assert.equal(result.code, 1, output(result));
      assert.match(result.stdout, new RegExp(`^\\[!\\] ${EXTRA}   failed$`, 'm'));
      assert.match(result.stdout, /Failed: 1 /);
      assert.match(result.stderr, new RegExp(`Migration ${EXTRA} failed: .*NoSuchTable`));
      assert.match(result.stderr, new RegExp(`make resolve ROLLED_BACK=${EXTRA}`));
      assert.match(result.stderr, new RegExp(`make resolve APPLIED=${EXTRA}`));
    });

    test('a migration file changed after it was applied is listed as edited, exit 1', async (t) => {
      const db = await testDatabase(t, provider);
      const prisma = copyPrismaDir(t);
      assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma })).code, 0);
      const file = migrationFile(prisma, provider, names[0]!);
      writeFileSync(file, `${readFileSync(file, 'utf8')}\n-- a harmless afterthought\n`);
      const result = await migrate(db.url, ['status'], { PRISMA_DIR: prisma });
      assert.equal(result.code, 1, output(result));
      assert.match(result.stdout, new RegExp(`^\\[X\\] ${names[0]}   edited after it was applied`, 'm'));
      assert.match(result.stdout, /Edited: 1 /);
      assert.match(result.stderr, /never edit an applied migration/);
    });

    test('a migration in the database but not in the folder is listed as unknown, exit 1', async (t) => {
      const db = await testDatabase(t, provider);
      const newer = copyPrismaDir(t);
      writeMigration(newer, provider, EXTRA, MARKER_SQL);
      assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: newer })).code, 0);
      const result = await migrate(db.url, ['status']);
      assert.equal(result.code, 1, output(result));
      assert.match(result.stdout, new RegExp(`^\\[\\?\\] ${EXTRA}   in the database, not in the folder$`, 'm'));
      assert.match(result.stdout, /Unknown: 1/);
      assert.match(result.stderr, /pull the latest history/);
    });

    test('--json prints the whole status on stdout, datasource masked, nothing else', async (t) => {
      const db = await testDatabase(t, provider);
      const prisma = copyPrismaDir(t);
      removeMigration(prisma, provider, last);
      assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma })).code, 0);
      const file = migrationFile(prisma, provider, names[0]!);
      writeFileSync(file, `${readFileSync(file, 'utf8')}-- edited\n`);
      writeMigration(prisma, provider, EXTRA, MARKER_SQL);
      const result = await migrate(db.url, ['status', '--json'], { PRISMA_DIR: prisma });
      assert.equal(result.code, 1, output(result));
      const status = JSON.parse(result.stdout) as StatusJson;
      assert.deepEqual(Object.keys(status).sort(), ['applied', 'datasource', 'edited', 'failed', 'hasTable', 'migrationsDir', 'needsBaseline', 'pending', 'provider', 'unknown', 'upToDate']);
      assert.equal(status.needsBaseline, false);
      assert.equal(status.provider, provider);
      assert.deepEqual(status.applied, names.slice(0, -1));
      assert.deepEqual(status.pending, [EXTRA]);
      assert.deepEqual(status.edited, [names[0]]);
      assert.deepEqual(status.unknown, [], 'the removed migration was never applied');
      assert.deepEqual(status.failed, []);
      assert.equal(status.hasTable, true);
      assert.equal(status.upToDate, false);
      if (provider === 'postgresql') assert.match(status.datasource, /^postgresql:\/\/postgres:\*\*\*@/);
      assert.equal(result.stderr.trim(), '', 'no Datasource banner around JSON');

      const clean = await migrate(db.url, ['status', '--json']);
      assert.equal(clean.code, 1, 'the original history still has one pending');
      assert.deepEqual((JSON.parse(clean.stdout) as StatusJson).pending, [last]);
    });

    test('status writes nothing to an empty database: everything pending, exit 1', async (t) => {
      const db = await testDatabase(t, provider);
      const result = await migrate(db.url, ['status']);
      assert.equal(result.code, 1, output(result));
      assert.match(result.stdout, new RegExp(`Applied: 0  Pending: ${names.length} `));
      const conn = await db.connect();
      assert.equal(await hasHistoryTable(conn), false, 'no _prisma_migrations created');
      if (provider === 'postgresql') {
        const inSchema = await migrate(`${db.url}?schema=not_yet`, ['status']);
        assert.equal(inSchema.code, 1, output(inSchema));
        assert.deepEqual(await conn.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'not_yet'`), [], 'no schema created');
      }
    });
  });
}

describe('status on a SQLite file that does not exist', () => {
  test('reports everything pending and creates neither the file nor its folder', async (t) => {
    const dir = join(tempDir(t), 'not', 'yet');
    const result = await migrate(`file:${dir}/dev.db`, ['status', '--json']);
    assert.equal(result.code, 1, output(result));
    const status = JSON.parse(result.stdout) as StatusJson;
    assert.equal(status.hasTable, false);
    assert.equal(status.pending.length, readHistory('sqlite').migrations.length);
    assert.equal(existsSync(dir), false);
  });
});
