/**
 * Prisma's MigrateResolve and MigrateReset tests (packages/migrate/src/__tests__ at the 7.x
 * line) against the kit's engine: each fixture is written to a fresh folder (its dev.db rebuilt from SQL in the
 * legacy shapes Prisma's binary fixtures have), the real CLI runs there, and each test
 * asserts what Prisma's test states. Stdout is compared after Prisma's own normalization
 * (the optional "Applying migration …" line and the "SQLite database … created at …" block
 * are dropped); the 14-digit names are the fixtures' real ones, not 20201231000000.
 * Prisma answers its reset prompt with `prompts.inject`; here the CLI runs in a
 * pseudo-terminal (`script` of util-linux, CI unset) and the answer is typed into it.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ACCELERATE_URL, BLOG_INIT_SQL, checksum, dataProxyFiles, DB_1_FAILED, DB_1_MIGRATION, DB_RESET, F_1_FAILED, F_1_MIGRATION, F_EMPTY, F_FOLDER_MIGRATION_EXISTS, F_NESTED, F_NO_CONFIG, F_RESET, F_SCHEMA_ONLY_POSTGRESQL, F_SCHEMA_ONLY_SQLITE, FAILED, FAILED_SQL, FOLDER_INIT, FOLDER_INIT_SQL, folderFiles, HISTORY_TABLE_SQL, historyRow, INIT, RESET_INIT, SQLITE_DB_HEADER } from './fixtures.ts';
import { accelerateUnsupported, assertRejects, assertResolves, assertServerUnreachable, datasourceUrlRequired, diagnostics, fixture, migrateSnapshot, NO_SCHEMA_FOUND, output, printed, prisma, prismaCalled, prismaInTerminal, readMigrateState, readSqlite, sqliteLine, type Files } from './harness.ts';

// ---------------------------------------------------------------------------------------------------------------------
// The reset prompt, answered in a pseudo-terminal

const RESET_QUESTION = 'Are you sure you want to reset your database?';

const PROMPT = /\? Are you sure you want to reset your database\? All data will be lost\. › \(y\/N\)✔ Are you sure you want to reset your database\? All data will be lost\. … (yes|no)\n/;

/**
 * The terminal's text as the in-process test sees stdout: the CLI's diagnostics (stderr)
 * and the rendered prompt (answered by `prompts.inject` there, never rendered) removed,
 * then Prisma's normalization. `answer` is what the prompt shows as answered.
 */
function terminalStdout(text: string, answer: 'yes' | 'no'): string {
  const match = PROMPT.exec(text);
  assert.ok(match, `the prompt shows, answered:\n${text}`);
  assert.equal(match[1], answer, text);
  const withoutPrompt = text.slice(0, match.index) + text.slice(match.index + match[0].length);
  const rest = diagnostics(withoutPrompt).rest;
  return migrateSnapshot(rest);
}

/** `prisma migrate reset` run by a user who types `answer` at its prompt; `text` is what the terminal showed. */
async function resetInTerminal(dir: string, answer: string): Promise<{ code: number; text: string }> {
  const result = await prismaInTerminal(dir, ['migrate', 'reset'], { question: RESET_QUESTION, answer });
  return { code: result.code, text: result.stdout };
}

// ---------------------------------------------------------------------------------------------------------------------
// Fixtures only these cases use (Prisma's packages/migrate/src/__tests__/fixtures/<name>; the shared ones are in fixtures.ts)

const FOLDER_FAILED_SQL = 'BROKEN SCRIPT;';
const F_FOLDER_FAILED = folderFiles(FOLDER_FAILED_SQL);
/** Only `_prisma_migrations` with the failed init's row. */
const DB_FOLDER_FAILED =
  HISTORY_TABLE_SQL +
  historyRow(FOLDER_INIT, checksum(FOLDER_FAILED_SQL), {
    failed: true,
    logs: 'A migration failed to apply. New migrations cannot be applied before the error is recovered from.\n\nMigration name: 20240527130802_init\n\nDatabase error code: 1\n\nDatabase error:\nnear "BROKEN": syntax error',
  });

const F_SEED: Files = {
  'prisma.config.ts': `import { defineConfig } from 'prisma/config'
export default defineConfig({
  datasource: {
    url: 'file:./dev.db',
  },
  earlyAccess: true,
  migrations: {
    seed: 'node prisma/seed.js',
  },
})
`,
  'prisma/schema.prisma': `${SQLITE_DB_HEADER}
model Post {
  id        Int     @id @default(autoincrement())
  title     String
  content   String?
  published Boolean @default(false)
  author    User?   @relation(fields: [authorId], references: [id])
  authorId  Int?
}

model User {
  id    Int     @id @default(autoincrement())
  email String  @unique
  name  String?
  posts Post[]
}
`,
  'prisma/seed.js': "console.log('Hello from seed.js')\nconsole.log('Goodbye from seed.js')\n",
  'package.json': '{\n  "name": "seed-sqlite-js",\n  "private": true\n}\n',
  '.gitignore': 'dev.db\n',
};

/** What a SQLite database holds, to compare before and after a command that must not touch it. */
function snapshot(path: string): string {
  return readSqlite(path, (db) => {
    const schema = db.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY name").all() as { name: string }[];
    const rows = Object.fromEntries(
      schema.filter((entry) => (entry as { type?: string }).type === 'table').map((entry) => [entry.name, db.prepare(`SELECT * FROM "${entry.name}"`).all()]),
    );
    return JSON.stringify({ schema, rows });
  });
}

const RESOLVE_USAGE = (cli: string) => `--applied or --rolled-back must be part of the command like:
${cli} migrate resolve --applied 20201231000000_example
${cli} migrate resolve --rolled-back 20201231000000_example`;

const RESET_HELP = `
Reset your database and apply all migrations, all data will be lost

Usage

  $ prisma migrate reset [options]

  The datasource URL configuration is read from the Prisma config file (e.g., prisma7.config.ts).

Options

       -h, --help   Display this help message
         --config   Custom path to your Prisma config file
         --schema   Custom path to your Prisma schema
      -f, --force   Skip the confirmation prompt

Examples

  Reset your database and apply all migrations, all data will be lost
  $ prisma migrate reset

  Specify a schema
  $ prisma migrate reset --schema=./schema.prisma

  Use --force to skip the confirmation prompt
  $ prisma migrate reset --force`;

const NON_INTERACTIVE = `Prisma Migrate has detected that the environment is non-interactive. It is recommended to run this command in an interactive environment.

Use --force to run this command without user interaction.
See https://pris.ly/d/migrate-reset`;

/** The reset's success block with one migration applied. */
function resetApplied(name: string): string {
  return `Database reset successful\n\nThe following migration(s) have been applied:\n\nmigrations/\n  └─ ${name}/\n    └─ migration.sql\n`;
}

/** After a reset of the F-reset database: everything dropped (the legacy tables too), the init re-applied. */
function assertResetApplied(path: string): void {
  const db = readMigrateState(path);
  assert.deepEqual(db.tables, ['Blog', '_prisma_migrations', 'sqlite_sequence'], 'Prisma 2’s _Migration is gone, Blog re-created');
  assert.deepEqual(
    db.history?.map((row) => [row.migration_name, row.checksum, row.finished_at !== null, row.rolled_back_at]),
    [[RESET_INIT, checksum(BLOG_INIT_SQL), true, null]],
  );
  assert.ok(db.history && !('script' in (db.history[0] as object)), 'the history table is re-created in its current shape');
  assert.equal(db.count('Blog'), 0);
}

/**
 * After `resolve --applied` of the failed migration `name`, as Prisma's engine does it
 * (mark_migration_applied): the failed row rolled back, a finished row added, the script
 * not run. The database, for the case's own further checks.
 */
function assertFailedMarkedApplied(path: string, name: string): ReturnType<typeof readMigrateState> {
  const db = readMigrateState(path);
  assert.deepEqual(db.tables, ['_prisma_migrations'], 'the broken script is not run');
  assert.deepEqual(
    db.history?.map((row) => [row.migration_name, row.finished_at !== null, row.rolled_back_at !== null]).sort(),
    [
      [name, false, true],
      [name, true, false],
    ],
  );
  return db;
}

/** After a reset with nothing to apply: no table of the user's left, no migration recorded. */
function assertResetEmpty(path: string): void {
  const db = readMigrateState(path);
  assert.deepEqual(
    db.tables.filter((table) => table !== '_prisma_migrations' && table !== 'sqlite_sequence'),
    [],
    `everything is dropped: ${db.tables.join(', ')}`,
  );
  assert.deepEqual(db.history ?? [], [], 'nothing is recorded');
}

// ---------------------------------------------------------------------------------------------------------------------
// MigrateResolve.test.ts

test('migrate resolve > prisma.config.ts > should require a datasource in the config', async (t) => {
  const dir = fixture(t, F_NO_CONFIG);
  const result = await prisma(dir, ['migrate', 'resolve']);
  assertRejects(result, datasourceUrlRequired('migrate resolve'));
});

for (const cli of ['prisma', 'prisma7'] as const) {
  const other = cli === 'prisma' ? 'prisma7' : 'prisma';
  test(`migrate resolve > common > ${cli} > renders help and help examples with the selected executable`, async (t) => {
    const dir = fixture(t, F_SCHEMA_ONLY_SQLITE);
    const help = await prismaCalled(cli, dir, ['migrate', 'resolve', '--help']);
    assert.equal(help.code, 0, output(help));
    assert.ok(help.stdout.includes(`${cli} migrate resolve [options]`), output(help));
    assert.ok(help.stdout.includes(`Run "${cli} migrate status" to identify if you need to use resolve.`), output(help));
    assert.ok(!help.stdout.includes(`${other} migrate resolve [options]`), output(help));
    const result = await prismaCalled(cli, dir, ['migrate', 'resolve']);
    assert.equal(result.code, 1, output(result));
    assert.ok(result.stderr.includes('--applied or --rolled-back must be part of the command like:'), output(result));
    assert.ok(result.stderr.includes(`${cli} migrate resolve --applied 20201231000000_example`), output(result));
    assert.ok(result.stderr.includes(`${cli} migrate resolve --rolled-back 20201231000000_example`), output(result));
    // Prisma's `prisma` case also states that no connection is tried.
    if (cli === 'prisma') assert.ok(!result.stderr.includes('P1003'), 'no connection is tried');
    assert.ok(!existsSync(join(dir, 'dev.db')), 'no database is created');
  });
}

test('migrate resolve > common > should fail if no schema file', async (t) => {
  const dir = fixture(t, F_EMPTY);
  const result = await prisma(dir, ['migrate', 'resolve']);
  assertRejects(result, NO_SCHEMA_FOUND);
});

test('migrate resolve > common > should fail if no --applied or --rolled-back', async (t) => {
  const dir = fixture(t, F_SCHEMA_ONLY_SQLITE);
  const result = await prisma(dir, ['migrate', 'resolve']);
  assertRejects(result, RESOLVE_USAGE('prisma'));
});

test('migrate resolve > common > should fail if both --applied or --rolled-back', async (t) => {
  const dir = fixture(t, F_SCHEMA_ONLY_SQLITE);
  const result = await prisma(dir, ['migrate', 'resolve', '--applied=something_applied', '--rolled-back=something_rolledback']);
  assertRejects(result, 'Pass either --applied or --rolled-back, not both.');
});

test('migrate resolve > SQLite > should fail if no sqlite db - empty schema', async (t) => {
  const dir = fixture(t, F_SCHEMA_ONLY_SQLITE);
  const result = await prisma(dir, ['migrate', 'resolve', '--applied=something_applied', '--config', 'empty.config.ts']);
  assertRejects(result, 'P1003: Database `dev.db` does not exist');
  assert.equal(migrateSnapshot(result.stdout), `${sqliteLine('my_db')}\n`, output(result));
  assert.ok(!existsSync(join(dir, 'dev.db')), 'resolve never creates the database');
});

test("migrate resolve > SQLite > --applied should fail if migration doesn't exist", async (t) => {
  const dir = fixture(t, F_1_FAILED, { 'dev.db': DB_1_FAILED });
  const before = snapshot(join(dir, 'dev.db'));
  const result = await prisma(dir, ['migrate', 'resolve', '--applied=does_not_exist']);
  assertRejects(
    result,
    'P3017\n\nThe migration does_not_exist could not be found. Please make sure that the migration exists, and that you included the whole name of the directory. (example: "20201207184859_initial_migration")\n',
  );
  assert.equal(snapshot(join(dir, 'dev.db')), before, 'the database is unchanged');
});

test('migrate resolve > SQLite > --applied should fail if migration is already applied', async (t) => {
  const dir = fixture(t, F_1_MIGRATION, { 'dev.db': DB_1_MIGRATION });
  const result = await prisma(dir, ['migrate', 'resolve', `--applied=${INIT}`]);
  assertRejects(result, `P3008\n\nThe migration \`${INIT}\` is already recorded as applied in the database.\n`);
});

test('migrate resolve > SQLite > --applied should fail if migration is not in a failed state', async (t) => {
  const dir = fixture(t, F_1_MIGRATION, { 'dev.db': DB_1_MIGRATION });
  const result = await prisma(dir, ['migrate', 'resolve', '--applied', INIT]);
  assertRejects(result, `P3008\n\nThe migration \`${INIT}\` is already recorded as applied in the database.\n`);
});

test('migrate resolve > SQLite > --applied should work on a failed migration', async (t) => {
  const dir = fixture(t, F_1_FAILED, { 'dev.db': DB_1_FAILED });
  const result = await prisma(dir, ['migrate', 'resolve', '--applied', FAILED]);
  assertResolves(result);
  assert.equal(migrateSnapshot(result.stdout), printed(`${sqliteLine('my_db')}\n\nMigration ${FAILED} marked as applied.\n`, ''), output(result));
  const db = assertFailedMarkedApplied(join(dir, 'dev.db'), FAILED);
  assert.equal(db.history?.find((row) => row.finished_at !== null)?.checksum, checksum(FAILED_SQL), 'recorded with the checksum of the local script');
});

test('migrate resolve > SQLite > --applied should work on a failed migration (schema folder)', async (t) => {
  const dir = fixture(t, F_FOLDER_FAILED, { 'dev.db': DB_FOLDER_FAILED });
  const result = await prisma(dir, ['migrate', 'resolve', '--applied', FOLDER_INIT, '--config', 'folder.config.ts']);
  assertResolves(result);
  assert.equal(migrateSnapshot(result.stdout), printed(`${sqliteLine('my_db')}\n\nMigration ${FOLDER_INIT} marked as applied.\n`, ''), output(result));
  assertFailedMarkedApplied(join(dir, 'dev.db'), FOLDER_INIT);
});

test("migrate resolve > SQLite > --rolled-back should fail if migration doesn't exist", async (t) => {
  const dir = fixture(t, F_1_FAILED, { 'dev.db': DB_1_FAILED });
  const result = await prisma(dir, ['migrate', 'resolve', '--rolled-back=does_not_exist']);
  assertRejects(
    result,
    'P3011\n\nMigration `does_not_exist` cannot be rolled back because it was never applied to the database. Hint: did you pass in the whole migration name? (example: "20201207184859_initial_migration")\n',
  );
});

test('migrate resolve > SQLite > --rolled-back should fail if migration is not in a failed state', async (t) => {
  const dir = fixture(t, F_1_MIGRATION, { 'dev.db': DB_1_MIGRATION });
  const result = await prisma(dir, ['migrate', 'resolve', '--rolled-back', INIT]);
  assertRejects(result, `P3012\n\nMigration \`${INIT}\` cannot be rolled back because it is not in a failed state.\n`);
});

test('migrate resolve > SQLite > --rolled-back should work on a failed migration', async (t) => {
  const dir = fixture(t, F_1_FAILED, { 'dev.db': DB_1_FAILED });
  const result = await prisma(dir, ['migrate', 'resolve', '--rolled-back', FAILED]);
  assertResolves(result);
  assert.equal(migrateSnapshot(result.stdout), printed(`${sqliteLine('my_db')}\n\nMigration ${FAILED} marked as rolled back.\n`, ''), output(result));
  // Prisma's engine: the failed row gets rolled_back_at; no row is added.
  const db = readMigrateState(join(dir, 'dev.db'));
  assert.deepEqual(
    db.history?.map((row) => [row.migration_name, row.finished_at !== null, row.rolled_back_at !== null]),
    [[FAILED, false, true]],
  );
});

test('migrate resolve > SQLite > --rolled-back works if migration is already rolled back', async (t) => {
  const dir = fixture(t, F_1_FAILED, { 'dev.db': DB_1_FAILED });
  for (const run of ['first', 'second']) {
    const result = await prisma(dir, ['migrate', 'resolve', '--rolled-back', FAILED]);
    assertResolves(result);
    assert.equal(migrateSnapshot(result.stdout), printed(`${sqliteLine('my_db')}\n\nMigration ${FAILED} marked as rolled back.\n`, ''), `${run} run\n${output(result)}`);
  }
});

test('migrate resolve > postgres > should fail if no db - invalid url', async (t) => {
  const dir = fixture(t, F_SCHEMA_ONLY_POSTGRESQL);
  const result = await prisma(dir, ['migrate', 'resolve', '--applied=something_applied', '--config', 'invalid-url.config.ts']);
  assertServerUnreachable(result);
});

// ---------------------------------------------------------------------------------------------------------------------
// MigrateReset.test.ts

test('migrate reset > prisma.config.ts > should require a datasource in the config', async (t) => {
  const dir = fixture(t, F_NO_CONFIG);
  const result = await prisma(dir, ['migrate', 'reset']);
  assertRejects(result, datasourceUrlRequired('migrate reset'));
});

test('migrate reset > common > wrong flag', async (t) => {
  const dir = fixture(t, {});
  const result = await prisma(dir, ['migrate', 'reset', '--something']);
  assert.equal(result.code, 1, output(result));
  assert.ok(result.stderr.includes('\n! unknown or unexpected option: --something\n'), output(result));
  assert.equal(result.stderr.split('Reset your database and apply all migrations, all data will be lost\n\nUsage').length - 1, 1, `the help, once\n${output(result)}`);
  assert.ok(result.stderr.includes(RESET_HELP), output(result));
  assert.ok(!result.stderr.includes('Prisma schema loaded'), 'rejected before the schema is looked for');
});

test('migrate reset > common > help flag', async (t) => {
  const dir = fixture(t, {});
  const result = await prisma(dir, ['migrate', 'reset', '--help']);
  assert.equal(result.code, 0, output(result));
  assert.equal(result.stdout.split('Reset your database and apply all migrations, all data will be lost\n\nUsage').length - 1, 1, `the help, once\n${output(result)}`);
  assert.ok(result.stdout.includes(RESET_HELP), output(result));
});

test('migrate reset > common > should fail if no schema file', async (t) => {
  const dir = fixture(t, F_EMPTY);
  const result = await prisma(dir, ['migrate', 'reset']);
  assertRejects(result, NO_SCHEMA_FOUND);
});

test('migrate reset > reset > should work (prompt)', async (t) => {
  const dir = fixture(t, F_RESET, { 'dev.db': DB_RESET });
  const result = await resetInTerminal(dir, 'y');
  assert.equal(result.code, 0, result.text);
  assert.equal(terminalStdout(result.text, 'yes'), printed(`${sqliteLine('my_db')}\n\n\n\n${resetApplied(RESET_INIT)}`, ''), result.text);
  assertResetApplied(join(dir, 'dev.db'));
});

test('migrate reset > reset > should work (--force)', async (t) => {
  const dir = fixture(t, F_RESET, { 'dev.db': DB_RESET });
  const result = await prisma(dir, ['migrate', 'reset', '--force']);
  assertResolves(result);
  assert.equal(migrateSnapshot(result.stdout), printed(`${sqliteLine('my_db')}\n\n\n${resetApplied(RESET_INIT)}`, ''), output(result));
  assertResetApplied(join(dir, 'dev.db'));
});

test('migrate reset > reset > should work with nested config and schema', async (t) => {
  const dir = fixture(t, F_NESTED);
  const result = await prisma(dir, ['migrate', 'reset', '--force', '--config', 'config/prisma.config.ts']);
  assertResolves(result);
  assert.equal(migrateSnapshot(result.stdout), printed(`${sqliteLine('db')}\n\nDatabase reset successful\n\n`, ''), output(result));
  assert.ok(existsSync(join(dir, 'config', 'dev.db')), 'the database is config/dev.db, next to the config');
  assert.ok(!existsSync(join(dir, 'dev.db')), 'nothing is created next to the cwd');
  assertResetEmpty(join(dir, 'config', 'dev.db'));
});

test('migrate reset > reset > should work with folder (--force)', async (t) => {
  const dir = fixture(t, F_FOLDER_MIGRATION_EXISTS);
  const result = await prisma(dir, ['migrate', 'reset', '--force', '--config', 'folder.config.ts']);
  assertResolves(result);
  assert.equal(migrateSnapshot(result.stdout), printed(`${sqliteLine('my_db')}\n\n\n${resetApplied(FOLDER_INIT)}`, ''), output(result));
  const db = readMigrateState(join(dir, 'dev.db'));
  assert.ok(db.tables.includes('Blog') && db.tables.includes('User'), `the init is applied: ${db.tables.join(', ')}`);
  assert.deepEqual(
    db.history?.map((row) => [row.migration_name, row.checksum, row.finished_at !== null]),
    [[FOLDER_INIT, checksum(FOLDER_INIT_SQL), true]],
  );
});

test('migrate reset > reset > with missing db', async (t) => {
  // Prisma's test removes prisma/dev.db, which its fixture does not have (a no-op); the database is missing here.
  const dir = fixture(t, F_RESET);
  rmSync(join(dir, 'dev.db'), { force: true });
  const result = await prisma(dir, ['migrate', 'reset', '--force']);
  assertResolves(result);
  assert.equal(migrateSnapshot(result.stdout), printed(`${sqliteLine('my_db')}\n\n\n${resetApplied(RESET_INIT)}`, ''), output(result));
  const db = readMigrateState(join(dir, 'dev.db'));
  assert.deepEqual(db.tables, ['Blog', '_prisma_migrations', 'sqlite_sequence']);
  assert.deepEqual(
    db.history?.map((row) => [row.migration_name, row.finished_at !== null]),
    [[RESET_INIT, true]],
  );
});

test('migrate reset > reset > without the migrations directory should fail (prompt)', async (t) => {
  const dir = fixture(t, F_RESET, { 'dev.db': DB_RESET });
  rmSync(join(dir, 'prisma', 'migrations'), { recursive: true });
  const result = await resetInTerminal(dir, 'y');
  assert.equal(result.code, 0, result.text);
  assert.equal(terminalStdout(result.text, 'yes'), printed(`${sqliteLine('my_db')}\n\n\nDatabase reset successful\n\n`, ''), result.text);
  assertResetEmpty(join(dir, 'dev.db'));
});

test('migrate reset > reset > should be cancelled if user send n (prompt)', async (t) => {
  const dir = fixture(t, F_RESET, { 'dev.db': DB_RESET });
  const before = snapshot(join(dir, 'dev.db'));
  const result = await resetInTerminal(dir, 'n');
  assert.equal(result.code, 130, result.text);
  assert.equal(terminalStdout(result.text, 'no'), `${sqliteLine('my_db')}\n\n\nReset cancelled.\n`, result.text);
  assert.equal(snapshot(join(dir, 'dev.db')), before, 'the database is untouched');
});

test('migrate reset > reset > reset should error in unattended environment', async (t) => {
  const dir = fixture(t, F_RESET, { 'dev.db': DB_RESET });
  const before = snapshot(join(dir, 'dev.db'));
  const result = await prisma(dir, ['migrate', 'reset']);
  assertRejects(result, NON_INTERACTIVE);
  assert.equal(snapshot(join(dir, 'dev.db')), before, 'the database is untouched');
});

test('migrate reset > reset > rejects unsupported Accelerate URLs before printing datasource info', async (t) => {
  const dir = fixture(t, dataProxyFiles(ACCELERATE_URL));
  const result = await prisma(dir, ['migrate', 'reset', '--force']);
  assertRejects(result, accelerateUnsupported('migrate reset'));
  assert.equal(migrateSnapshot(result.stdout), '', output(result));
});

test('migrate reset > reset > reset - seed.js in prisma.config.ts', async (t) => {
  const dir = fixture(t, F_SEED);
  const result = await resetInTerminal(dir, 'y');
  assert.equal(result.code, 0, result.text);
  // The whole terminal, diagnostics and prompt aside: no seed output, no warning.
  assert.equal(terminalStdout(result.text, 'yes'), printed(`${sqliteLine('db', 'file:./dev.db')}\n\n\nDatabase reset successful\n\n`, ''), result.text);
  assert.ok(!result.text.includes('Hello from seed.js') && !result.text.includes('Goodbye from seed.js'), `the seed is not run\n${result.text}`);
  assert.ok(!/seed/i.test(result.text), `no seed message\n${result.text}`);
  assert.ok(existsSync(join(dir, 'dev.db')), 'the database is created next to the config');
});
