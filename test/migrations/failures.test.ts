import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { lockfileText, readHistory } from '../../src/runtime/history.ts';
import { insertRowSql } from '../../src/runtime/table.ts';
import {
  EXTRA,
  HALF_WAY_SQL,
  MARKER_SQL,
  assertCleanFailure,
  errorLines,
  hasHistoryTable,
  migrate,
  migrationNames,
  output,
  removeMigration,
  rows,
  tables,
  writeMigration,
} from '../fixtures/kit.ts';
import { PROVIDERS, copyPrismaDir, tempDir, testDatabase } from '../helpers.ts';

const other = { sqlite: 'postgresql', postgresql: 'sqlite' } as const;

for (const provider of PROVIDERS) {
  const names = readHistory(provider).migrations.map((m) => m.name);

  describe(`failures on ${provider}`, () => {
    test('a migration failing half-way leaves nothing of itself, is recorded failed and blocks deploys until resolved', async (t) => {
      const db = await testDatabase(t, provider);
      const prisma = copyPrismaDir(t);
      const file = writeMigration(prisma, provider, EXTRA, HALF_WAY_SQL);
      const env = { PRISMA_DIR: prisma };

      const failed = await migrate(db.url, ['deploy'], env);
      assertCleanFailure(failed, 1, new RegExp(`Migration ${EXTRA} failed: .*NoSuchTable`));
      assert.match(failed.stderr, /P3018/);
      assert.match(failed.stderr, /Nothing of it was applied/);
      assert.match(failed.stderr, /\(statement 2 of 2, line 5: INSERT INTO "NoSuchTable" \("id"\) VALUES \(1\)\)/, 'names the statement that failed');
      assert.equal(errorLines(failed).length, 1);
      for (const name of names) assert.match(failed.stdout, new RegExp(`Migration applied: ${name}`), 'the good migrations before it are applied');

      const conn = await db.connect();
      const present = await tables(conn);
      assert.ok(!present.includes('HalfWay'), 'the first statement was rolled back with the second');
      assert.ok(present.includes('McpToolLog'));
      const row = (await rows(conn)).find((r) => r.migration_name === EXTRA);
      assert.ok(row, 'the failure is recorded');
      assert.equal(row.finished_at, null);
      assert.equal(row.rolled_back_at, null);
      assert.equal(row.applied_steps_count, 0);
      assert.match(row.logs ?? '', /NoSuchTable/);

      const blocked = await migrate(db.url, ['deploy'], env);
      assertCleanFailure(blocked, 1, new RegExp(`Migration ${EXTRA} failed earlier`));
      assert.match(blocked.stderr, /P3009/);
      assert.match(blocked.stderr, new RegExp(`make resolve ROLLED_BACK=${EXTRA}`));
      assert.match(blocked.stderr, new RegExp(`make resolve APPLIED=${EXTRA}`));

      writeFileSync(file, HALF_WAY_SQL.replace(/INSERT INTO "NoSuchTable".*\n/, ''));
      assert.equal((await migrate(db.url, ['deploy'], env)).code, 1, 'a fixed file alone does not unblock: the failure must be resolved');
      const resolved = await migrate(db.url, ['resolve', '--rolled-back', EXTRA], env);
      assert.equal(resolved.code, 0, output(resolved));
      const deployed = await migrate(db.url, ['deploy'], env);
      assert.equal(deployed.code, 0, output(deployed));
      assert.ok((await tables(conn)).includes('HalfWay'));
      const status = await migrate(db.url, ['status'], env);
      assert.equal(status.code, 0, output(status));
    });

    test('a migration.sql that is not SQL fails cleanly and changes nothing', async (t) => {
      const db = await testDatabase(t, provider);
      const prisma = copyPrismaDir(t);
      assert.equal((await migrate(db.url, ['deploy'])).code, 0);
      const before = await tables(await db.connect());
      writeMigration(prisma, provider, EXTRA, 'this is not sql at all;\n');
      const result = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
      assertCleanFailure(result, 1, new RegExp(`Migration ${EXTRA} failed: .*syntax error`));
      const conn = await db.connect();
      assert.deepEqual(await tables(conn), before);
      assert.equal((await rows(conn)).find((r) => r.migration_name === EXTRA)?.finished_at, null);
    });

    test(`a lock file naming ${other[provider]} is refused (P3019) before anything is applied`, async (t) => {
      const db = await testDatabase(t, provider);
      const prisma = copyPrismaDir(t);
      writeFileSync(join(prisma, 'migrations', provider, 'migration_lock.toml'), lockfileText(other[provider]));
      const result = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
      assertCleanFailure(result, 1, /P3019/);
      assert.match(result.stderr, new RegExp(`locked to provider "${other[provider]}"`));
      if (provider === 'sqlite') assert.equal(existsSync((db.target as { file: string }).file), false, 'no database file created');
      else assert.equal(await hasHistoryTable(await db.connect()), false);
      const status = await migrate(db.url, ['status'], { PRISMA_DIR: prisma });
      assertCleanFailure(status, 1, /P3019/);
    });

    test('an empty migrations folder: clear message naming the next command, exit 1, nothing created', async (t) => {
      const db = await testDatabase(t, provider);
      const prisma = copyPrismaDir(t);
      for (const name of migrationNames(prisma, provider)) removeMigration(prisma, provider, name);
      const result = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
      assertCleanFailure(result, 1, /No migrations found in .*; create the first one with: make migrate NAME=init/);
      if (provider === 'sqlite') assert.equal(existsSync((db.target as { file: string }).file), false, 'no database file created');
      else {
        const conn = await db.connect();
        assert.equal(await hasHistoryTable(conn), false);
        assert.deepEqual(await tables(conn), []);
      }
    });

    test('_prisma_migrations holding names the folder does not know: deploy goes on and says so, status flags them', async (t) => {
      const db = await testDatabase(t, provider);
      assert.equal((await migrate(db.url, ['deploy'])).code, 0);
      const conn = await db.connect();
      const now = new Date();
      await conn.exec(insertRowSql(conn.target, { name: '20991231000000_from_the_future', checksum: 'f'.repeat(64), startedAt: now, finishedAt: now, logs: null, appliedSteps: 1 }));
      const deployed = await migrate(db.url, ['deploy']);
      assert.equal(deployed.code, 0, output(deployed));
      assert.match(deployed.stderr, /the database has migrations this folder does not: 20991231000000_from_the_future/);
      const status = await migrate(db.url, ['status']);
      assert.equal(status.code, 1);
      assert.match(status.stdout, /\[\?\] 20991231000000_from_the_future/);
    });

    test('a failed row with a name the folder does not know still blocks deploy, with the recovery commands', async (t) => {
      const db = await testDatabase(t, provider);
      const prisma = copyPrismaDir(t);
      removeMigration(prisma, provider, names.at(-1)!);
      assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma })).code, 0);
      const conn = await db.connect();
      await conn.exec(insertRowSql(conn.target, { name: '20991231000000_ghost', checksum: 'f'.repeat(64), startedAt: new Date(), finishedAt: null, logs: 'boom', appliedSteps: 0 }));
      const result = await migrate(db.url, ['deploy']);
      assertCleanFailure(result, 1, /P3009/);
      assert.match(result.stderr, /make resolve ROLLED_BACK=20991231000000_ghost/);
      assert.ok(!(await rows(conn)).some((r) => r.migration_name === names.at(-1)), 'nothing applied behind a failed migration');
    });
  });
}

describe('failures on sqlite only', () => {
  test('a database path below a regular file: one clear line, exit 1, no stack trace', async (t) => {
    const file = join(tempDir(t), 'data');
    writeFileSync(file, 'not a directory');
    for (const args of [['deploy'], ['resolve', '--applied', readHistory('sqlite').migrations[0]!.name]]) {
      const result = await migrate(`file:${file}/rastar.db`, args);
      assertCleanFailure(result, 1, /Cannot open SQLite database .*rastar\.db: /);
      assert.equal(result.stderr.split('\n').filter((l) => l.startsWith('Error')).length, 1, result.stderr);
    }
  });

  test('a migration that a marker table proves applied is applied exactly once', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const prisma = copyPrismaDir(t);
    writeMigration(prisma, 'sqlite', EXTRA, MARKER_SQL);
    const [a, b] = await Promise.all([migrate(db.url, ['deploy'], { PRISMA_DIR: prisma }), migrate(db.url, ['deploy'], { PRISMA_DIR: prisma })]);
    assert.equal(a.code, 0, output(a));
    assert.equal(b.code, 0, output(b));
    const applied = (await rows(await db.connect())).filter((r) => r.migration_name === EXTRA);
    assert.equal(applied.length, 1);
  });
});
