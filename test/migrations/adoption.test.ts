/**
 * Baseline, repair and status telling the truth about a database built outside the
 * kit: on this server's PostgreSQL major against the embedded PostgreSQL 18 shadow
 * (`make test-postgres-majors` runs this file on 15, 16 and 17), for what Prisma's diff
 * does not see (a trigger, a data-only migration), and for a history whose middle
 * migration does not replay from scratch. Histories are written for each test; the
 * databases are built by hand with psql or sqlite3, as a team without the kit did.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test, type TestContext } from 'node:test';
import { parseDatabaseUrl, type Provider } from '../../src/db.ts';
import { diff, historyTarget, withDatabaseEngine } from '../../src/authoring/engine.ts';
import { readHistory } from '../../src/runtime/history.ts';
import { hasHistoryTable, migrationFile, output, rows, writeMigration } from '../fixtures/kit.ts';
import { copyPrismaDir, PROVIDERS, runScript, serverUrl, testDatabase, type TestDatabase } from '../helpers.ts';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The embedded PostgreSQL 18 shadow: nothing configured. */
const EMBEDDED_SHADOW = { SHADOW_DATABASE_URL: '' };

function run(script: string, db: TestDatabase, args: string[], env: NodeJS.ProcessEnv = {}) {
  return runScript(script, args, { env: { DATABASE_URL: db.url, SHADOW_DATABASE_URL: serverUrl(), ...env } });
}

/** Run these scripts by hand, in order, with the provider's own shell. */
async function byHand(db: TestDatabase, scripts: string[]): Promise<void> {
  for (const script of scripts) {
    const [file, args] =
      db.target.provider === 'sqlite' ? ['sqlite3', ['-bail', db.target.file]] : ['psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', db.url]];
    await new Promise<void>((resolve, reject) => {
      const child = execFile(file, args, { env: { ...process.env, PGOPTIONS: '-c client_min_messages=warning' } }, (error, _stdout, stderr) => (error ? reject(new Error(`${file}: ${stderr}`)) : resolve()));
      child.stdin?.end(script);
    });
  }
}

/** A prisma dir whose `provider` history is exactly `migrations` (name → SQL). */
function historyOf(t: TestContext, provider: Provider, migrations: [string, string][]): string {
  const prisma = copyPrismaDir(t);
  rmSync(join(prisma, 'migrations', provider), { recursive: true, force: true });
  for (const [name, sql] of migrations) writeMigration(prisma, provider, name, sql);
  writeFileSync(join(prisma, 'migrations', provider, 'migration_lock.toml'), `provider = "${provider}"\n`);
  return prisma;
}

const ACCOUNT = '20250101000000_account';
const GUARD = '20250102000000_no_negative_balance';
const OPENING = '20250103000000_opening_balance';
const LEDGER = '20250104000000_ledger';

/** A table; a trigger that refuses a negative balance; a data-only migration; another table. */
function guardedHistory(provider: Provider, floor = 0): [string, string][] {
  const guard =
    provider === 'sqlite'
      ? `CREATE TRIGGER "no_negative_balance" BEFORE INSERT ON "Account" WHEN NEW."balance" < ${floor} BEGIN SELECT RAISE(ABORT, 'negative balance'); END;\n`
      : `CREATE FUNCTION "refuse_negative"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW."balance" < ${floor} THEN RAISE EXCEPTION 'negative balance'; END IF; RETURN NEW; END $$;\n` +
        `CREATE TRIGGER "no_negative_balance" BEFORE INSERT ON "Account" FOR EACH ROW EXECUTE FUNCTION "refuse_negative"();\n`;
  return [
    [ACCOUNT, 'CREATE TABLE "Account" ("id" INTEGER NOT NULL PRIMARY KEY, "balance" INTEGER NOT NULL);\n'],
    [GUARD, guard],
    [OPENING, 'INSERT INTO "Account" ("id", "balance") VALUES (1, 10);\n'],
    [LEDGER, 'CREATE TABLE "Ledger" ("id" INTEGER NOT NULL PRIMARY KEY, "accountId" INTEGER NOT NULL);\n'],
  ];
}

const sql = (history: [string, string][], ...names: string[]) => names.map((name) => (history.find(([n]) => n === name) as [string, string])[1]);

test('on this server’s PostgreSQL major, with the embedded PostgreSQL 18 shadow: baseline finds the whole history, records it; repair realigns; check passes', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  const history = readHistory('postgresql').migrations;
  await byHand(db, history.map((m) => m.script));
  const found = await run('baseline', db, ['--json'], EMBEDDED_SHADOW);
  assert.equal(found.code, 0, output(found));
  const finding = JSON.parse(found.stdout) as { matched: number; unverified: string[]; shadowFailure: unknown };
  assert.deepEqual({ matched: finding.matched, unverified: finding.unverified, shadowFailure: finding.shadowFailure }, { matched: history.length, unverified: [], shadowFailure: null });
  const applied = await run('baseline', db, ['--apply'], EMBEDDED_SHADOW);
  assert.equal(applied.code, 0, output(applied));
  const conn = await db.connect();
  assert.equal((await rows(conn)).length, history.length);
  await conn.exec(`UPDATE "_prisma_migrations" SET "checksum" = 'older'`);
  const repaired = await run('repair', db, [], EMBEDDED_SHADOW);
  assert.equal(repaired.code, 0, output(repaired));
  assert.match(repaired.stdout, new RegExp(`^Realigned ${history.length} checksums with the files:$`, 'm'));
  const checked = await run('check-production-migrations', db, [], EMBEDDED_SHADOW);
  assert.equal(checked.code, 0, output(checked));
});

for (const provider of PROVIDERS) {
  describe(`what Prisma's diff does not see, on ${provider}`, () => {
    test('tables built without the trigger of a middle migration: no prefix matches, the trigger is named, nothing recorded', async (t) => {
      const history = guardedHistory(provider);
      const prisma = historyOf(t, provider, history);
      const db = await testDatabase(t, provider);
      await byHand(db, sql(history, ACCOUNT, LEDGER)); // what `db push` builds: the tables only
      const result = await run('baseline', db, ['--apply'], { PRISMA_DIR: prisma });
      assert.equal(result.code, 1, output(result));
      assert.match(result.stdout, /^No prefix of the 4 migrations matches the database\.$/m);
      assert.match(result.stdout, /^ {2}missing from the database: trigger "?no_negative_balance"?/m);
      if (provider === 'postgresql') assert.match(result.stdout, /^ {2}missing from the database: function "?refuse_negative"?\(\)$/m);
      assert.doesNotMatch(output(result), /No difference detected/);
      assert.equal(await hasHistoryTable(await db.connect()), false, 'nothing written');
    });

    test('a data-only migration in the middle is named as unverified and recorded only when accepted by name', async (t) => {
      const history = guardedHistory(provider);
      const prisma = historyOf(t, provider, history);
      const db = await testDatabase(t, provider);
      await byHand(db, sql(history, ACCOUNT, GUARD, OPENING, LEDGER));
      const env = { PRISMA_DIR: prisma };
      const found = await run('baseline', db, [], env);
      assert.equal(found.code, 0, output(found));
      assert.match(found.stdout, /^The database matches the first 4 of 4 migrations/m);
      assert.match(found.stdout, new RegExp(`^1 of them cannot be verified: .*\\n {2}${OPENING}$`, 'm'));
      assert.match(found.stdout, new RegExp(`make baseline CONFIRM=1 ACCEPT_UNVERIFIED=${OPENING} `));
      const refused = await run('baseline', db, ['--apply'], env);
      assert.equal(refused.code, 2, output(refused));
      assert.match(refused.stderr, new RegExp(`^Error: 1 migration cannot be verified: .*${OPENING}\\. Nothing was recorded\\.$`, 'm'));
      assert.equal(await hasHistoryTable(await db.connect()), false, 'nothing written');
      const typo = await run('baseline', db, ['--apply', '--accept-unverified', LEDGER], env);
      assert.equal(typo.code, 2, output(typo));
      assert.match(typo.stderr, new RegExp(`^Error: --accept-unverified names ${LEDGER}, which is not unverified here`, 'm'));
      const accepted = await run('baseline', db, ['--apply', '--accept-unverified', OPENING], env);
      assert.equal(accepted.code, 0, output(accepted));
      assert.deepEqual((await rows(await db.connect())).map((r) => r.migration_name), [ACCOUNT, GUARD, OPENING, LEDGER]);
    });

    test('repair refuses an edited trigger migration whose trigger the database does not have, naming it', async (t) => {
      const history = guardedHistory(provider);
      const prisma = historyOf(t, provider, history);
      const db = await testDatabase(t, provider);
      const env = { PRISMA_DIR: prisma };
      assert.equal((await run('migrate', db, ['deploy'], env)).code, 0);
      // The file now refuses balances under -100; the database still has the trigger at 0.
      writeFileSync(migrationFile(prisma, provider, GUARD), sql(guardedHistory(provider, -100), GUARD)[0] as string);
      const refused = await run('repair', db, [], env);
      assert.equal(refused.code, 1, output(refused));
      assert.match(refused.stderr, /^Error: The database differs from what its 4 applied migrations yield \(drift\); nothing was written:$/m);
      assert.match(refused.stderr, provider === 'sqlite' ? /^defined otherwise: trigger "no_negative_balance"/m : /^defined otherwise: function refuse_negative\(\)/m);
      const checksums = (await rows(await db.connect())).map((r) => r.checksum);
      assert.notEqual(checksums[1], readHistory(provider, join(prisma, 'migrations', provider)).migrations[1]?.checksum, 'nothing realigned');
    });

    test('check names a trigger dropped by hand and a function added by hand, which Prisma\'s diff does not see', async (t) => {
      const history = guardedHistory(provider);
      const prisma = historyOf(t, provider, history);
      const db = await testDatabase(t, provider);
      const env = { PRISMA_DIR: prisma };
      assert.equal((await run('migrate', db, ['deploy'], env)).code, 0);
      // schema.prisma is the kit's own, not this history's: only the drift check is read.
      const driftOf = async () => {
        const checked = await run('check-production-migrations', db, ['--json'], env);
        return (JSON.parse(checked.stdout) as { checks: { id: string; ok: boolean; detail: string }[] }).checks.find((c) => c.id === 'drift');
      };
      assert.deepEqual(await driftOf(), { id: 'drift', ok: true, detail: 'the live schema matches the migrations' });
      await byHand(db, [
        provider === 'sqlite'
          ? 'DROP TRIGGER "no_negative_balance";\nCREATE VIEW "Rich" AS SELECT "id" FROM "Account" WHERE "balance" > 100;\n'
          : 'DROP TRIGGER "no_negative_balance" ON "Account";\nCREATE FUNCTION "handmade"() RETURNS integer LANGUAGE sql AS $$ SELECT 1 $$;\n',
      ]);
      const drift = await driftOf();
      assert.equal(drift?.ok, false);
      assert.match(drift?.detail ?? '', /^the live schema differs from what the migrations produce; beside tables and columns:$/m);
      assert.match(drift?.detail ?? '', /^ {2}missing from the database: trigger "?no_negative_balance"? on|^ {2}missing from the database: trigger "no_negative_balance"$/m);
      assert.match(drift?.detail ?? '', provider === 'sqlite' ? /^ {2}only in the database: view "Rich"$/m : /^ {2}only in the database: function handmade\(\)$/m);
      assert.doesNotMatch(drift?.detail ?? '', /Removed tables|Added tables/);
    });

    test('a middle migration that does not replay from scratch: baseline proposes the prefix before it, says the shadow failed and the target was not touched', async (t) => {
      const history: [string, string][] = [
        [ACCOUNT, 'CREATE TABLE "Account" ("id" INTEGER NOT NULL PRIMARY KEY);\n'],
        [LEDGER, 'CREATE TABLE "Ledger" ("id" INTEGER NOT NULL PRIMARY KEY);\n'],
        ['20250105000000_applied_by_hand_in_production', 'ALTER TABLE "OnlyInProduction" ADD COLUMN "x" INTEGER;\n'],
        ['20250106000000_later', 'CREATE TABLE "Later" ("id" INTEGER NOT NULL PRIMARY KEY);\n'],
      ];
      const prisma = historyOf(t, provider, history);
      const db = await testDatabase(t, provider);
      await byHand(db, sql(history, ACCOUNT, LEDGER));
      const result = await run('baseline', db, [], { PRISMA_DIR: prisma });
      assert.equal(result.code, 0, output(result));
      assert.match(result.stdout, new RegExp(`^The database matches the first 2 of 4 migrations \\(up to ${LEDGER}\\)\\.$`, 'm'));
      assert.match(result.stderr, /^Note: Migration 20250105000000_applied_by_hand_in_production \(number 3\) does not replay on a shadow database: .*OnlyInProduction.*statement 1 of 1.*the target database was not touched\. The migrations from it on were not compared\.$/m);
      assert.doesNotMatch(output(result), /make resolve/);
    });
  });
}

test('Prisma’s engine replays a history as deploy runs it: CONCURRENTLY beside other statements, an enum value added then used; a failure names the migration and the statement, not the target', async (t) => {
  const server = parseDatabaseUrl(serverUrl()) as Parameters<typeof withDatabaseEngine>[0] & { provider: 'postgresql' };
  const history: [string, string][] = [
    ['20250101000000_items', 'CREATE TABLE "Item" ("id" INTEGER NOT NULL PRIMARY KEY, "kind" TEXT);\nCREATE INDEX CONCURRENTLY "Item_kind_idx" ON "Item" ("kind");\n'],
    ['20250102000000_status', `CREATE TYPE "Status" AS ENUM ('new');\nALTER TYPE "Status" ADD VALUE 'done';\nCREATE TABLE "Task" ("id" INTEGER NOT NULL PRIMARY KEY, "status" "Status" NOT NULL DEFAULT 'done');\n`],
  ];
  const prisma = historyOf(t, 'postgresql', history);
  const folder = readHistory('postgresql', join(prisma, 'migrations', 'postgresql'));
  const empty = { tag: 'empty' } as const;
  const replayed = await withDatabaseEngine(server, { shadowServer: server }, (engine) => diff(engine, historyTarget(folder), empty, false));
  assert.equal(replayed.changed, true);
  assert.match(replayed.output, /\[-\] Removed tables\n\s+- Item\n\s+- Task/);

  writeMigration(prisma, 'postgresql', '20250103000000_broken', 'CREATE TABLE "Ok" ("id" INTEGER);\nCREATE INDEX CONCURRENTLY "Missing_idx" ON "Missing" ("id");\n');
  const broken = readHistory('postgresql', join(prisma, 'migrations', 'postgresql'));
  await assert.rejects(
    withDatabaseEngine(server, { shadowServer: server }, (engine) => diff(engine, historyTarget(broken), empty, false)),
    (error: Error & { code?: string; prismaCode?: string; hint?: string }) => {
      assert.equal(error.code, 'SHADOW');
      assert.equal(error.prismaCode, 'P3006');
      assert.match(error.message, /^Migration 20250103000000_broken does not replay on a shadow database: relation "Missing" does not exist \(statement 2 of 2, line 2: CREATE INDEX CONCURRENTLY "Missing_idx" ON "Missing" \("id"\)\)\. .*the target database was not touched\.$/);
      assert.doesNotMatch(error.hint ?? '', /resolve/);
      return true;
    },
  );
});

for (const provider of PROVIDERS) {
  test(`status, check, deploy and verify agree on ${provider} tables without a history: a baseline is needed`, async (t) => {
    const db = await testDatabase(t, provider);
    await byHand(db, ['CREATE TABLE "Legacy" ("id" INTEGER NOT NULL PRIMARY KEY);\n']);
    const status = await run('migrate', db, ['status']);
    assert.equal(status.code, 1, output(status));
    assert.match(status.stderr, /^The database already has tables \(Legacy\) but no migration history; it needs a baseline\.$/m);
    assert.match(status.stderr, /make baseline$/m);
    assert.doesNotMatch(output(status), /apply with: make deploy/);
    const json = JSON.parse((await run('migrate', db, ['status', '--json'])).stdout) as { needsBaseline: boolean };
    assert.equal(json.needsBaseline, true);
    const deployed = await run('migrate', db, ['deploy']);
    assert.equal(deployed.code, 1);
    assert.match(deployed.stderr, /needs a baseline/);
    const checked = await run('check-production-migrations', db, []);
    assert.equal(checked.code, 1);
    assert.match(output(checked), /needs a baseline/);
    const verified = await run('reset-migrations', db, []);
    assert.equal(verified.code, 1, output(verified));
    assert.match(output(verified), /needs a baseline/);
    assert.equal(await hasHistoryTable(await db.connect()), false, 'nothing written');
  });
}
