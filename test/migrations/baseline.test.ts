/**
 * Adoption: `make baseline` and `make repair` on databases built outside the kit
 * (the migrations run by hand with psql or sqlite3, no history) and on histories
 * whose rows carry other checksums, on both providers; what they print, their exit
 * codes, and what the database holds afterwards, read directly.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { findBaseline, recordBaseline } from '../../src/authoring/baseline.ts';
import { readHistory } from '../../src/runtime/history.ts';
import { HALF_WAY_SQL, hasHistoryTable, migrate, output, rows, writeMigration } from '../fixtures/kit.ts';
import { copyPrismaDir, PROVIDERS, runScript, serverUrl, testDatabase, type TestDatabase } from '../helpers.ts';
import { openConnection, parseDatabaseUrl, type Provider } from '../../src/db.ts';

const baseline = (db: TestDatabase, ...args: string[]) => runScript('baseline', args, { env: { DATABASE_URL: db.url, SHADOW_DATABASE_URL: serverUrl() } });
const repair = (db: TestDatabase, ...args: string[]) => runScript('repair', args, { env: { DATABASE_URL: db.url, SHADOW_DATABASE_URL: serverUrl() } });
const check = (db: TestDatabase) => runScript('check-production-migrations', [], { env: { DATABASE_URL: db.url, SHADOW_DATABASE_URL: serverUrl() } });

/** Run the first `count` migrations of the project's history by hand, as a team without the kit did. */
async function applyByHand(db: TestDatabase, provider: Provider, count: number): Promise<void> {
  for (const migration of readHistory(provider).migrations.slice(0, count)) {
    const [file, args] =
      provider === 'sqlite'
        ? ['sqlite3', ['-bail', db.target.provider === 'sqlite' ? db.target.file : '']]
        : ['psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', db.url]];
    await new Promise<void>((resolve, reject) => {
      const child = execFile(file, args, (error, _stdout, stderr) => (error ? reject(new Error(`${file}: ${stderr}`)) : resolve()));
      child.stdin?.end(migration.script);
    });
  }
}

const NAMES = Object.fromEntries(PROVIDERS.map((p) => [p, readHistory(p).migrations.map((m) => m.name)])) as Record<Provider, string[]>;
/** `n migration(s)`, as the scripts print a count. */
const migrations = (n: number) => `${n} migration${n === 1 ? '' : 's'}`;

for (const provider of PROVIDERS) {
  describe(`baseline on ${provider}`, () => {
    const names = NAMES[provider];
    const total = names.length;
    const last = names[total - 1]!;

    test('every migration run by hand: all of them found read-only; CONFIRM records them; deploy has nothing; check passes; data kept; a second run refuses', async (t) => {
      const db = await testDatabase(t, provider);
      await applyByHand(db, provider, total);
      const conn = await db.connect();
      await conn.exec(`INSERT INTO "AdminUser" ("username", "passwordHash", "createdAt", "updatedAt") VALUES ('kept', 'x', 1, 1)`);
      const found = await baseline(db);
      assert.equal(found.code, 0, output(found));
      assert.match(found.stdout, /^Baseline: /);
      assert.match(found.stdout, new RegExp(`^The database matches the first ${total} of ${total} migrations \\(up to ${last}\\)\\.$`, 'm'));
      assert.match(found.stdout, /^Record them as applied with: make baseline CONFIRM=1$/m);
      assert.equal(await hasHistoryTable(conn), false, 'read-only by default');
      const applied = await baseline(db, '--apply');
      assert.equal(applied.code, 0, output(applied));
      assert.match(applied.stdout, new RegExp(`^✓ Recorded ${migrations(total)} as applied\\.$`, 'm'));
      const history = await rows(conn);
      assert.deepEqual(history.map((r) => r.migration_name), names);
      const checksums = readHistory(provider).migrations.map((m) => m.checksum);
      assert.deepEqual(history.map((r) => r.checksum), checksums, 'the files’ checksums');
      assert.ok(history.every((r) => r.finished_at !== null && r.logs === null && r.applied_steps_count === 0), 'rows as prisma migrate resolve --applied writes them');
      const deployed = await migrate(db.url, ['deploy']);
      assert.match(deployed.stdout, /^No pending migrations\. Database is up to date\.$/m);
      const checked = await check(db);
      assert.equal(checked.code, 0, output(checked));
      assert.deepEqual(await conn.query('SELECT "username" FROM "AdminUser"'), [{ username: 'kept' }]);
      const again = await baseline(db, '--apply');
      assert.equal(again.code, 1, output(again));
      assert.match(again.stderr, /^Error: The database already has a migration history; a baseline is for a database without one\.$/m);
      assert.match(again.stderr, /^To realign the rows of an existing history with the folder: make repair$/m);
      assert.equal((await rows(conn)).length, total, 'nothing changed');
    });

    test('the first two run by hand: 2 of all of them found, recorded; deploy applies the rest', async (t) => {
      const db = await testDatabase(t, provider);
      await applyByHand(db, provider, 2);
      const applied = await baseline(db, '--apply', '--json');
      assert.equal(applied.code, 0, output(applied));
      const finding = JSON.parse(applied.stdout) as { matched: number; total: number; upTo: string; recorded: string[]; datasource: string };
      assert.deepEqual({ matched: finding.matched, total: finding.total, upTo: finding.upTo, recorded: finding.recorded }, { matched: 2, total, upTo: names[1], recorded: names.slice(0, 2) });
      const deployed = await migrate(db.url, ['deploy']);
      assert.match(deployed.stdout, new RegExp(`^Database is now up to date! ${migrations(total - 2)} applied`, 'm'));
      assert.deepEqual((await rows(await db.connect())).map((r) => r.migration_name), names);
    });

    test('a column added by hand: no prefix matches, the nearest one and the column named, nothing written', async (t) => {
      const db = await testDatabase(t, provider);
      await applyByHand(db, provider, total);
      const conn = await db.connect();
      await conn.exec('ALTER TABLE "AdminUser" ADD COLUMN "nickname" TEXT');
      const result = await baseline(db, '--apply');
      assert.equal(result.code, 1, output(result));
      assert.match(result.stdout, new RegExp(`^No prefix of the ${total} migrations matches the database\\.$`, 'm'));
      assert.match(result.stdout, new RegExp(`^Nearest: the first ${total} \\(up to ${last}\\); the database differs from it:$`, 'm'));
      assert.match(result.stdout, /\[\+\] Added column `nickname`/);
      assert.equal(await hasHistoryTable(conn), false, 'nothing written');
    });

    test('repair: rows of an older history (other checksums) read as edited; repair realigns each, check passes; on drift it refuses and writes nothing', async (t) => {
      const db = await testDatabase(t, provider);
      assert.equal((await migrate(db.url, ['deploy'])).code, 0);
      const conn = await db.connect();
      await conn.exec(`UPDATE "_prisma_migrations" SET "checksum" = 'older' || "migration_name"`);
      const status = await migrate(db.url, ['status']);
      assert.equal(status.code, 1);
      assert.match(status.stdout, new RegExp(`Applied: ${total}  Pending: 0  Failed: 0  Edited: ${total}  Unknown: 0`));
      const dry = await repair(db, '--dry-run', '--json');
      assert.equal(dry.code, 0, output(dry));
      const planned = JSON.parse(dry.stdout) as { written: boolean; checksums: { name: string; from: string; to: string }[] };
      assert.equal(planned.written, false);
      assert.deepEqual(planned.checksums.map((c) => c.name), names);
      assert.ok((await rows(conn)).every((r) => r.checksum.startsWith('older')), 'a dry run writes nothing');
      const repaired = await repair(db);
      assert.equal(repaired.code, 0, output(repaired));
      assert.match(repaired.stdout, new RegExp(`^Realigned ${total} checksum${total === 1 ? '' : 's'} with the files:$`, 'm'));
      for (const name of names) assert.match(repaired.stdout, new RegExp(`^  ${name}: older\\d{7}… → [0-9a-f]{12}…$`, 'm'));
      assert.deepEqual((await rows(conn)).map((r) => r.checksum), readHistory(provider).migrations.map((m) => m.checksum));
      assert.equal((await check(db)).code, 0);
      const nothing = await repair(db);
      assert.match(nothing.stdout, /nothing to repair/);

      await conn.exec(`UPDATE "_prisma_migrations" SET "checksum" = 'older'`);
      await conn.exec('ALTER TABLE "AdminUser" ADD COLUMN "nickname" TEXT');
      const refused = await repair(db);
      assert.equal(refused.code, 1, output(refused));
      assert.match(refused.stderr, new RegExp(`^Error: The database differs from what its ${total} applied migrations yield \\(drift\\); nothing was written:$`, 'm'));
      assert.match(refused.stderr, /\[\+\] Added column `nickname`/);
      assert.ok((await rows(conn)).every((r) => r.checksum === 'older'), 'nothing written');
    });
  });
}

test('repair leaves a failed row alone unless named; --rolled-back of a name that is not failed is refused', async (t) => {
  const db = await testDatabase(t, 'sqlite');
  const prismaDir = copyPrismaDir(t);
  const broken = '20990101000000_half_way';
  writeMigration(prismaDir, 'sqlite', broken, HALF_WAY_SQL);
  const env = { DATABASE_URL: db.url, SHADOW_DATABASE_URL: serverUrl(), PRISMA_DIR: prismaDir };
  assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: prismaDir })).code, 1, 'the failed row');
  const left = await runScript('repair', [], { env });
  assert.equal(left.code, 0, output(left));
  assert.match(left.stderr, new RegExp(`^Left as is: ${broken} failed; to retry it: make repair ROLLED_BACK=${broken}$`, 'm'));
  const wrong = await runScript('repair', ['--rolled-back', '20990101000000_nope'], { env });
  assert.equal(wrong.code, 1, output(wrong));
  assert.match(wrong.stderr, new RegExp(`^Error: Migration 20990101000000_nope is not failed in the database \\(failed: ${broken}\\); repair only marks a failed migration as rolled back\\. \\(P3012\\)$`, 'm'));
  const named = await runScript('repair', ['--rolled-back', broken], { env });
  assert.equal(named.code, 0, output(named));
  assert.match(named.stdout, new RegExp(`^Marked ${broken} as rolled back; make deploy applies it again\\.$`, 'm'));
  assert.ok((await rows(await db.connect())).find((r) => r.migration_name === broken)?.rolled_back_at);
});

test('baseline: the database changes between the comparison and the write: refused under the lock, nothing written', async (t) => {
  const db = await testDatabase(t, 'sqlite');
  const history = readHistory('sqlite');
  await applyByHand(db, 'sqlite', history.migrations.length);
  const finding = await findBaseline(db.target, history);
  assert.equal(finding.matched, history.migrations.length);
  const conn = await db.connect();
  await conn.exec('CREATE INDEX "late" ON "AdminUser" ("createdAt")');
  await assert.rejects(recordBaseline(db.target, history, finding), /^KitError: The database changed while it was compared with the history; nothing was recorded\.$/);
  assert.equal(await hasHistoryTable(conn), false);
});

test('baseline: an unreachable shadow server is one line, exit 1, nothing written', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  await applyByHand(db, 'postgresql', NAMES.postgresql.length);
  const result = await runScript('baseline', ['--apply'], { env: { DATABASE_URL: db.url, SHADOW_DATABASE_URL: 'postgresql://shadow:Shadow-Secret-9@127.0.0.1:1/shadow', DB_CONNECT_TIMEOUT: '0' } });
  assert.equal(result.code, 1, output(result));
  assert.match(result.stderr, /^Error: Can't reach database server at 127\.0\.0\.1:1 \(database "shadow"\)/m);
  assert.doesNotMatch(output(result), /Shadow-Secret-9/);
  assert.equal(await hasHistoryTable(await db.connect()), false);
});

test('baseline with a read-only role: the finding is reported, the write refused in one line, nothing written', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  await applyByHand(db, 'postgresql', NAMES.postgresql.length);
  const conn = await db.connect();
  const role = `reader_${Date.now().toString(36)}`;
  await conn.exec(`CREATE ROLE ${role} LOGIN PASSWORD 'Reader-Secret-5'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
  t.after(async () => {
    // After the test database is dropped (and the role's grants with it).
    const server = await openConnection(parseDatabaseUrl(serverUrl()));
    await server.exec(`DROP ROLE IF EXISTS ${role}`);
    await server.close();
  });
  const url = new URL(db.url);
  url.username = role;
  url.password = 'Reader-Secret-5';
  const result = await runScript('baseline', ['--apply'], { env: { DATABASE_URL: url.href, SHADOW_DATABASE_URL: serverUrl() } });
  assert.equal(result.code, 1, output(result));
  assert.match(result.stderr, /^Error: .*permission denied for schema public/m);
  assert.equal(output(result).split('\n').filter((line) => line.startsWith('Error')).length, 1);
  assert.doesNotMatch(output(result), /Reader-Secret-5/);
  assert.equal(await hasHistoryTable(conn), false);
});

test('baseline and repair --help: usage, options and exit codes', async () => {
  for (const [script, option] of [['baseline', '--apply'], ['repair', '--rolled-back <name>']] as const) {
    const help = await runScript(script, ['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, new RegExp(`^Usage: ${script} `, 'm'));
    assert.match(help.stdout, new RegExp(`^  ${option}`, 'm'));
    assert.match(help.stdout, /^Exit codes:$/m);
  }
});

test('make baseline and make repair exist with their options in make help', async () => {
  const help = await new Promise<string>((resolve) => execFile('make', ['--no-print-directory', 'help'], { cwd: join(import.meta.dirname, '..', '..'), env: { ...process.env, MAKELEVEL: '', MAKEFLAGS: '' } }, (_e, stdout) => resolve(String(stdout))));
  assert.match(help, /baseline .*CONFIRM=1 records them/);
  assert.match(help, /repair .*ROLLED_BACK=<name>/);
});
