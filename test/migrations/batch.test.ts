/**
 * A PostgreSQL database built from nothing gets its transactional migrations several
 * to a round trip (src/runtime/deploy.ts applyBatch), each still its own transaction
 * with its guard and row. What a user sees must not change: each migration applied
 * once and recorded with its own times, a failure reported as always, nothing after it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dialectOf, type SqlConnection } from '../../src/db.ts';
import { ensureTable, historyTable, insertRowSql, segmentStartSql } from '../../src/runtime/table.ts';
import { assertCleanFailure, migrate, migrationNames, removeMigration, rows, writeMigration } from '../fixtures/kit.ts';
import { copyPrismaDir, testDatabase } from '../helpers.ts';

/** Each migration notes the round trip it came in (statement_timestamp) and its own transaction. */
const NOTE = (label: string) => `INSERT INTO "seen" ("label", "received", "tx") VALUES ('${label}', statement_timestamp(), txid_current());\n`;
const FIRST = `CREATE TABLE "seen" ("label" TEXT PRIMARY KEY, "received" TIMESTAMPTZ NOT NULL, "tx" BIGINT NOT NULL);\n${NOTE('m1')}`;
const NAMES = ['20990101000001_m1', '20990101000002_m2', '20990101000003_m3', '20990101000004_m4', '20990101000005_m5'];

/** A prisma/ folder whose PostgreSQL history is only `scripts`, named NAMES in order. */
function history(t: Parameters<typeof copyPrismaDir>[0], scripts: string[]): string {
  const prisma = copyPrismaDir(t);
  for (const name of migrationNames(prisma, 'postgresql')) removeMigration(prisma, 'postgresql', name);
  scripts.forEach((sql, k) => writeMigration(prisma, 'postgresql', NAMES[k] as string, sql));
  return prisma;
}

async function seen(conn: SqlConnection): Promise<{ label: string; received: string; tx: string }[]> {
  return conn.query('SELECT "label", "received"::text AS "received", "tx"::text AS "tx" FROM "seen" ORDER BY "label"');
}

describe('a fresh PostgreSQL database, several migrations to a round trip', () => {
  test('each migration its own transaction and row, with its own times, in one round trip; an existing database still gets one per migration', async (t) => {
    const scripts = [FIRST, NOTE('m2'), NOTE('m3'), NOTE('m4')];
    const prisma = history(t, scripts);
    const fresh = await testDatabase(t, 'postgresql');
    const result = await migrate(fresh.url, ['deploy'], { PRISMA_DIR: prisma });
    assert.equal(result.code, 0, result.stderr);
    for (const name of NAMES.slice(0, 4)) assert.match(result.stdout, new RegExp(`✓ Migration applied: ${name} \\(\\d+ms\\)`));
    const conn = await fresh.connect();
    const notes = await seen(conn);
    assert.equal(new Set(notes.map((n) => n.received)).size, 1, `one round trip: ${JSON.stringify(notes)}`);
    assert.equal(new Set(notes.map((n) => n.tx)).size, 4, 'four transactions');
    const recorded = await rows(conn);
    assert.deepEqual(
      recorded.map((r) => [r.migration_name, r.applied_steps_count, r.finished_at !== null]),
      NAMES.slice(0, 4).map((name) => [name, 1, true]),
    );
    for (const [k, row] of recorded.entries()) {
      const started = new Date(row.started_at).getTime();
      assert.ok(new Date(row.finished_at as Date).getTime() >= started, `${row.migration_name} finished after it started`);
      if (k > 0) assert.ok(started >= new Date(recorded[k - 1]?.finished_at as Date).getTime(), `${row.migration_name} started after the one before it finished`);
    }

    // The control: a database that already has its history gets one round trip per migration.
    const existing = await testDatabase(t, 'postgresql');
    const first = history(t, scripts.slice(0, 1));
    assert.equal((await migrate(existing.url, ['deploy'], { PRISMA_DIR: first })).code, 0);
    assert.equal((await migrate(existing.url, ['deploy'], { PRISMA_DIR: prisma })).code, 0);
    const later = (await seen(await existing.connect())).slice(1);
    assert.equal(new Set(later.map((n) => n.received)).size, 3, `one round trip each: ${JSON.stringify(later)}`);
  });

  test('a failure in the middle: the migrations before it committed and recorded, it fails as always with nothing of it applied, none after it ran', async (t) => {
    const failing = `${NOTE('m3')}INSERT INTO "NoSuchTable" ("id") VALUES (1);\n`;
    const prisma = history(t, [FIRST, NOTE('m2'), failing, NOTE('m4'), NOTE('m5')]);
    const db = await testDatabase(t, 'postgresql');
    const result = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
    assertCleanFailure(result, 1, new RegExp(`Migration ${NAMES[2]} failed: .*NoSuchTable`));
    assert.match(result.stderr, /\(statement 2 of 2, line 2: INSERT INTO "NoSuchTable" \("id"\) VALUES \(1\)\)/, 'names the statement, as a migration sent alone does');
    assert.match(result.stdout, new RegExp(`✓ Migration applied: ${NAMES[1]}`));
    assert.doesNotMatch(result.stdout, new RegExp(`✓ Migration applied: ${NAMES[3]}`));
    const conn = await db.connect();
    assert.deepEqual((await seen(conn)).map((n) => n.label), ['m1', 'm2']);
    assert.deepEqual(
      (await rows(conn)).map((r) => [r.migration_name, r.finished_at !== null]),
      [
        [NAMES[0], true],
        [NAMES[1], true],
        [NAMES[2], false],
      ],
    );
  });

  test('after a batch that failed, the next migration runs in a clean session: a SET of an earlier one does not come back (torture seeds 407330, 650457)', async (t) => {
    // The enum value's use fails inside the batch's transaction; alone it runs statement by statement.
    const prisma = history(t, [
      'CREATE TYPE "Mood" AS ENUM (\'a\');\n',
      'SET search_path TO pg_catalog, public;\nCREATE TABLE public."S" ("id" INTEGER);\n',
      'ALTER TYPE "Mood" ADD VALUE \'b\';\nCREATE TABLE "T" ("mood" "Mood" NOT NULL DEFAULT \'b\');\n',
    ]);
    const db = await testDatabase(t, 'postgresql');
    const result = await migrate(db.url, ['deploy'], { PRISMA_DIR: prisma });
    assert.equal(result.code, 0, result.stderr);
    const conn = await db.connect();
    assert.deepEqual(await conn.query(`SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'T'`), [{ schema: 'public' }]);
  });

  test("a row is written only in the transaction that noted its id: a script read on into the next migration's text rolls back whole", async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const conn = await db.connect();
    await ensureTable(conn);
    const row = (id: string, name: string) => insertRowSql(db.target, { id, name, checksum: 'x', startedAt: new Date(), finishedAt: null, logs: null, appliedSteps: 1, serverClock: 'segment' });
    const begin = `${dialectOf(db.target).begin};\n`;
    // What the server would run were the first script's quote to swallow its row, its COMMIT and the second BEGIN.
    await assert.rejects(conn.exec(`${begin}${segmentStartSql('row-a')};\nCREATE TABLE "Mixed" ("id" INT);\n${row('row-b', 'b')};\nCOMMIT`), /other-segment:row-a/);
    await conn.exec('ROLLBACK');
    assert.deepEqual(await conn.query(`SELECT to_regclass('"Mixed"') AS t`), [{ t: null }]);
    assert.deepEqual(await conn.query(`SELECT count(*)::int AS n FROM ${historyTable(db.target)}`), [{ n: 0 }]);
    // Its own transaction writes it, stamped with the start the segment noted.
    await conn.exec(`${begin}${segmentStartSql('row-a')};\nSELECT pg_sleep(0.01);\n${row('row-a', 'a')};\nCOMMIT`);
    const [written] = await conn.query<{ id: string; took: number }>(`SELECT id, extract(epoch FROM finished_at - started_at) * 1000 AS took FROM ${historyTable(db.target)}`);
    assert.equal(written?.id, 'row-a');
    assert.ok(Number(written?.took) >= 10, `started_at is the segment's start (${written?.took} ms before finished_at)`);
  });
});
