/**
 * Prisma's MigrateDeploy and MigrateStatus tests (packages/migrate/src/__tests__ at the 7.x
 * line) against the kit's engine: each fixture is written to a fresh folder (its dev.db rebuilt from SQL in the
 * legacy shapes Prisma's binary fixtures have), the real CLI runs there, and each test
 * asserts what Prisma's test states. Stdout is compared after Prisma's own normalization
 * (the optional "Applying migration …" line and the "SQLite database … created at …" block
 * are dropped); the 14-digit names are the fixtures' real ones, not 20201231000000.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { testDatabase } from '../helpers.ts';
import type { RunResult } from '../helpers.ts';
import { ACCELERATE_URL, BLOG_INIT_SQL, BLOG_SCHEMA, checksum, config, dataProxyFiles, DB_1_FAILED, DB_1_MIGRATION, DB_BLOG_WITH_A_ROW, DB_RESET, F_1_FAILED, F_1_MIGRATION, F_EMPTY, F_EXISTING_DB_WARNINGS, F_FOLDER_MIGRATION_EXISTS, F_NESTED, F_NO_CONFIG, F_RESET, F_SCHEMA_ONLY_POSTGRESQL, F_SCHEMA_ONLY_SQLITE, FAILED, FOLDER_INIT, FOLDER_INIT_SQL, folderFiles, HISTORY_TABLE_SQL, historyRow, INIT, LEGACY_MIGRATION_TABLE_SQL, legacyChecksum, SQLITE_DATASOURCE } from './fixtures.ts';
import { accelerateUnsupported, assertRejects, assertResolves, assertServerUnreachable, datasourceUrlRequired, diagnostics, fixture, migrateSnapshot, NO_SCHEMA_FOUND, output, printed, prisma, readMigrateState, sqliteLine, type Files } from './harness.ts';

// ---------------------------------------------------------------------------------------------------------------------
// Reading what the CLI printed

/** Exited with `code` by process.exit: no `Error:`; what the command wrote with console.error is `consoleError`. */
function assertExited(result: RunResult, code: number, consoleError: string): void {
  assert.equal(result.code, code, output(result));
  assert.equal(diagnostics(result.stderr).rest, consoleError === '' ? '' : `${consoleError}\n`, output(result));
}

const NOT_MANAGED = `The current database is not managed by Prisma Migrate.

Read more about how to baseline an existing production database:
https://pris.ly/d/migrate-baseline`;

// ---------------------------------------------------------------------------------------------------------------------
// Fixtures only these cases use (Prisma's packages/migrate/src/__tests__/fixtures/<name>; the shared ones are in fixtures.ts)

const CAT_SQL = `-- CreateTable
CREATE TABLE "Cat" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "age" INTEGER NOT NULL
);
`;

const DOG_SQL = `-- CreateTable
CREATE TABLE "Dog" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "age" INTEGER NOT NULL
);
`;

/** Blog and Prisma 2's `_Migration`, no `_prisma_migrations`: a non-empty unmanaged database. */
const DB_CONFLICT = BLOG_INIT_SQL + LEGACY_MIGRATION_TABLE_SQL;

const F_BASELINE: Files = {
  'prisma.config.ts': config('file:dev.db'),
  'prisma/schema.prisma': 'datasource my_db {\n  provider = "sqlite"\n}\n',
};

const DB_BASELINE = `CREATE TABLE "Blog" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "viewCount" INTEGER NOT NULL
);
`;

const F_FOLDER_DB_EXISTS = folderFiles(FOLDER_INIT_SQL);
const DB_FOLDER_EXISTS = HISTORY_TABLE_SQL + historyRow(FOLDER_INIT, checksum(FOLDER_INIT_SQL)) + FOLDER_INIT_SQL;

const F_BROWNFIELD: Files = { 'prisma.config.ts': config('file:dev.db'), 'prisma/schema.prisma': BLOG_SCHEMA };

const F_HISTORIES_DIVERGE: Files = {
  'prisma.config.ts': config('file:dev.db'),
  'prisma/schema.prisma': `${SQLITE_DATASOURCE}
model Blog {
  id          Int @id
  viewCount20 Int
}

model Cat {
  id  Int @id
  age Int
}

model Dog {
  id  Int @id
  age Int
}
`,
  [`prisma/migrations/${INIT}/migration.sql`]: BLOG_INIT_SQL,
  'prisma/migrations/20201214145711_catage/migration.sql': CAT_SQL,
};

/** Applied: init and dogage (not in the folder); the folder's catage is not. */
const DB_HISTORIES_DIVERGE =
  HISTORY_TABLE_SQL + historyRow(INIT, legacyChecksum(BLOG_INIT_SQL)) + historyRow('20201214151021_dogage', legacyChecksum(DOG_SQL)) + BLOG_INIT_SQL + CAT_SQL + DOG_SQL;

// ---------------------------------------------------------------------------------------------------------------------
// MigrateDeploy.test.ts

test('migrate deploy > prisma.config.ts > should require a datasource in the config', async (t) => {
  const dir = fixture(t, F_NO_CONFIG);
  const result = await prisma(dir, ['migrate', 'deploy']);
  assertRejects(result, datasourceUrlRequired('migrate deploy'));
  assert.equal(diagnostics(result.stderr).schema, 'schema.prisma', output(result));
  assert.equal(migrateSnapshot(result.stdout), '', output(result));
});

test('migrate deploy > common > should fail if no schema file', async (t) => {
  const dir = fixture(t, F_EMPTY);
  const result = await prisma(dir, ['migrate', 'deploy']);
  assertRejects(result, NO_SCHEMA_FOUND);
});

test('migrate deploy > SQLite > no unapplied migrations', async (t) => {
  const dir = fixture(t, F_SCHEMA_ONLY_SQLITE);
  const result = await prisma(dir, ['migrate', 'deploy', '--config', 'empty.config.ts']);
  assertResolves(result);
  assert.equal(diagnostics(result.stderr).schema, 'prisma/empty.prisma', output(result));
  assert.equal(migrateSnapshot(result.stdout), printed(`${sqliteLine('my_db')}\n\nNo migration found in prisma/migrations\n\n\n`, 'No pending migrations to apply.'), output(result));
  assert.ok(existsSync(join(dir, 'dev.db')), 'deploy creates the missing dev.db next to the config');
});

test('migrate deploy > SQLite > should work with nested config and schema', async (t) => {
  const dir = fixture(t, F_NESTED);
  const result = await prisma(dir, ['migrate', 'deploy', '--config', 'config/prisma.config.ts']);
  assertResolves(result);
  assert.equal(diagnostics(result.stderr).schema, 'config/schema.prisma', output(result));
  assert.equal(migrateSnapshot(result.stdout), printed(`${sqliteLine('db')}\n\nNo migration found in prisma/migrations\n\n\n`, 'No pending migrations to apply.'), output(result));
  assert.ok(existsSync(join(dir, 'config', 'dev.db')), 'the database is config/dev.db, next to the config');
  assert.ok(!existsSync(join(dir, 'dev.db')), 'nothing is created next to the cwd');
});

test('migrate deploy > SQLite > 1 unapplied migration', async (t) => {
  const dir = fixture(t, F_1_MIGRATION); // fs.remove('dev.db'): the fixture's database is not built
  const block = `${sqliteLine('my_db')}\n\n1 migration found in prisma/migrations\n\n\n`;
  const first = await prisma(dir, ['migrate', 'deploy']);
  assertResolves(first);
  assert.equal(
    migrateSnapshot(first.stdout),
    printed(block, `The following migration(s) have been applied:\n\nmigrations/\n  └─ ${INIT}/\n    └─ migration.sql\n\nAll migrations have been successfully applied.`),
    output(first),
  );
  const second = await prisma(dir, ['migrate', 'deploy']);
  assertResolves(second);
  assert.equal(migrateSnapshot(second.stdout), printed(block, 'No pending migrations to apply.'), output(second));
  const db = readMigrateState(join(dir, 'dev.db'));
  assert.ok(db.tables.includes('Blog'), `Blog is created: ${db.tables.join(', ')}`);
  assert.deepEqual(
    db.history?.map((row) => [row.migration_name, row.checksum, row.finished_at !== null, row.rolled_back_at]),
    [[INIT, checksum(BLOG_INIT_SQL), true, null]],
  );
});

test('migrate deploy > SQLite > 1 unapplied migration (folder)', async (t) => {
  const dir = fixture(t, F_FOLDER_MIGRATION_EXISTS);
  const block = `${sqliteLine('my_db')}\n\n1 migration found in prisma/migrations\n\n\n`;
  const first = await prisma(dir, ['migrate', 'deploy', '--config', 'folder.config.ts']);
  assertResolves(first);
  assert.equal(diagnostics(first.stderr).schema, 'prisma', output(first));
  assert.equal(
    migrateSnapshot(first.stdout),
    printed(block, `The following migration(s) have been applied:\n\nmigrations/\n  └─ ${FOLDER_INIT}/\n    └─ migration.sql\n\nAll migrations have been successfully applied.`),
    output(first),
  );
  const second = await prisma(dir, ['migrate', 'deploy', '--config', 'folder.config.ts']);
  assertResolves(second);
  assert.equal(migrateSnapshot(second.stdout), printed(block, 'No pending migrations to apply.'), output(second));
  const db = readMigrateState(join(dir, 'dev.db'));
  assert.ok(db.tables.includes('Blog') && db.tables.includes('User'), `Blog and User are created: ${db.tables.join(', ')}`);
  assert.deepEqual(
    db.history?.map((row) => [row.migration_name, row.checksum, row.finished_at !== null, row.rolled_back_at]),
    [[FOLDER_INIT, checksum(FOLDER_INIT_SQL), true, null]],
  );
});

test('migrate deploy > SQLite > should throw if database is not empty', async (t) => {
  const dir = fixture(t, F_1_MIGRATION, { 'dev.db': DB_CONFLICT });
  const result = await prisma(dir, ['migrate', 'deploy']);
  // Prisma's message, then (a documented difference) the kit's way to find which migrations the tables hold.
  assert.equal(result.code, 1, output(result));
  assert.ok(
    diagnostics(result.stderr).rest.startsWith('Error: P3005\n\nThe database schema is not empty. Read more about how to baseline an existing production database: https://pris.ly/d/migrate-baseline\n\n'),
    output(result),
  );
  assert.match(result.stderr, /^Find which of the 1 migrations the tables hold \(compared by schema, read-only\): make baseline$/m);
  assert.equal(migrateSnapshot(result.stdout), `${sqliteLine('my_db')}\n\n1 migration found in prisma/migrations\n\n`, output(result));
  const db = readMigrateState(join(dir, 'dev.db'));
  assert.deepEqual(db.tables, ['Blog', '_Migration', 'sqlite_sequence'], 'nothing is applied, no history table');
});

test('migrate deploy > postgres > should fail if url is prisma://', async (t) => {
  const dir = fixture(t, dataProxyFiles(ACCELERATE_URL));
  const result = await prisma(dir, ['migrate', 'deploy']);
  assertRejects(result, accelerateUnsupported('migrate deploy'));
});

test('migrate deploy > postgres > should work if direct URL is set via config', async (t) => {
  const pg = await testDatabase(t, 'postgresql');
  const url = new URL(pg.url);
  const dir = fixture(t, dataProxyFiles(pg.url));
  const result = await prisma(dir, ['migrate', 'deploy']);
  assertResolves(result);
  assert.equal(result.stderr, 'Loaded Prisma config from prisma.config.ts.\n\nPrisma schema loaded from schema.prisma.\n', output(result));
  assert.equal(
    migrateSnapshot(result.stdout),
    printed(
      `Datasource "db": PostgreSQL database "${decodeURIComponent(url.pathname.slice(1))}", schema "public" at "${url.hostname}:${url.port || '5432'}"\n\nNo migration found in prisma/migrations\n\n\n`,
      'No pending migrations to apply.',
    ),
    output(result),
  );
});
// ---------------------------------------------------------------------------------------------------------------------
// MigrateStatus.test.ts

test('migrate status > prisma.config.ts > should require a datasource in the config', async (t) => {
  const dir = fixture(t, F_NO_CONFIG);
  const result = await prisma(dir, ['migrate', 'status']);
  assertRejects(result, datasourceUrlRequired('migrate status'));
});

test('migrate status > common > should fail if no schema file', async (t) => {
  const dir = fixture(t, F_EMPTY);
  const result = await prisma(dir, ['migrate', 'status']);
  assertRejects(result, NO_SCHEMA_FOUND);
});

test('migrate status > SQLite > should fail if no sqlite db - empty schema', async (t) => {
  const dir = fixture(t, F_SCHEMA_ONLY_SQLITE);
  const result = await prisma(dir, ['migrate', 'status', '--config', 'empty.config.ts']);
  assertRejects(result, 'P1003: Database `dev.db` does not exist');
  assert.equal(migrateSnapshot(result.stdout), `${sqliteLine('my_db')}\n`, output(result));
  assert.ok(!existsSync(join(dir, 'dev.db')), 'status never creates the database');
});

test('migrate status > SQLite > existing-db-1-failed-migration', async (t) => {
  const dir = fixture(t, F_1_FAILED, { 'dev.db': DB_1_FAILED });
  const result = await prisma(dir, ['migrate', 'status']);
  assertExited(
    result,
    1,
    `Following migration have failed:
${FAILED}

During development if the failed migration(s) have not been deployed to a production database you can then fix the migration(s) and run prisma migrate dev.

The failed migration(s) can be marked as rolled back or applied:

- If you rolled back the migration(s) manually:
prisma migrate resolve --rolled-back "${FAILED}"

- If you fixed the database manually (hotfix):
prisma migrate resolve --applied "${FAILED}"

Read more about how to resolve migration issues in a production database:
https://pris.ly/d/migrate-resolve`,
  );
  assert.equal(migrateSnapshot(result.stdout), `${sqliteLine('my_db')}\n\n1 migration found in prisma/migrations\n`, output(result));
});

test('migrate status > SQLite > should error when database needs to be baselined', async (t) => {
  const dir = fixture(t, F_BASELINE, { 'dev.db': DB_BASELINE });
  const result = await prisma(dir, ['migrate', 'status']);
  assertExited(result, 1, NOT_MANAGED);
  assert.equal(migrateSnapshot(result.stdout), `${sqliteLine('my_db')}\n\nNo migration found in prisma/migrations\n`, output(result));
});

test('migrate status > SQLite > existing-db-1-migration', async (t) => {
  const dir = fixture(t, F_1_MIGRATION, { 'dev.db': DB_1_MIGRATION });
  const result = await prisma(dir, ['migrate', 'status']);
  assertResolves(result);
  assert.equal(migrateSnapshot(result.stdout), printed(`${sqliteLine('my_db')}\n\n1 migration found in prisma/migrations\n\n`, 'Database schema is up to date!'), output(result));
});

test('migrate status > SQLite > schema-folder-db-exists', async (t) => {
  const dir = fixture(t, F_FOLDER_DB_EXISTS, { 'dev.db': DB_FOLDER_EXISTS });
  const result = await prisma(dir, ['migrate', 'status', '--config', 'folder.config.ts']);
  assertResolves(result);
  assert.equal(migrateSnapshot(result.stdout), printed(`${sqliteLine('my_db')}\n\n1 migration found in prisma/migrations\n\n`, 'Database schema is up to date!'), output(result));
});

test('migrate status > SQLite > existing-db-1-migration-conflict', async (t) => {
  const dir = fixture(t, F_1_MIGRATION, { 'dev.db': DB_CONFLICT });
  const result = await prisma(dir, ['migrate', 'status']);
  assertExited(result, 1, '');
  assert.equal(
    migrateSnapshot(result.stdout),
    `${sqliteLine('my_db')}

1 migration found in prisma/migrations
Following migration have not yet been applied:
${INIT}

To apply migrations in development run prisma migrate dev.
To apply migrations in production run prisma migrate deploy.
`,
    output(result),
  );
});

test('migrate status > SQLite > existing-db-brownfield', async (t) => {
  const dir = fixture(t, F_BROWNFIELD, { 'dev.db': DB_BLOG_WITH_A_ROW });
  const result = await prisma(dir, ['migrate', 'status']);
  assertExited(result, 1, NOT_MANAGED);
  assert.equal(migrateSnapshot(result.stdout), `${sqliteLine('my_db')}\n\nNo migration found in prisma/migrations\n`, output(result));
});

test('migrate status > SQLite > existing-db-warnings', async (t) => {
  const dir = fixture(t, F_EXISTING_DB_WARNINGS, { 'dev.db': DB_BLOG_WITH_A_ROW });
  const result = await prisma(dir, ['migrate', 'status']);
  assertExited(result, 1, NOT_MANAGED);
  assert.equal(migrateSnapshot(result.stdout), `${sqliteLine('my_db')}\n\nNo migration found in prisma/migrations\n`, output(result));
});

test('migrate status > SQLite > reset', async (t) => {
  const dir = fixture(t, F_RESET, { 'dev.db': DB_RESET });
  const result = await prisma(dir, ['migrate', 'status']);
  assertResolves(result);
  assert.equal(migrateSnapshot(result.stdout), printed(`${sqliteLine('my_db')}\n\n1 migration found in prisma/migrations\n\n`, 'Database schema is up to date!'), output(result));
});

test('migrate status > SQLite > existing-db-histories-diverge', async (t) => {
  const dir = fixture(t, F_HISTORIES_DIVERGE, { 'dev.db': DB_HISTORIES_DIVERGE });
  const result = await prisma(dir, ['migrate', 'status']);
  assertExited(
    result,
    1,
    `Your local migration history and the migrations table from your database are different:

The last common migration is: ${INIT}

The migration have not yet been applied:
20201214145711_catage

The migration from the database are not found locally in prisma/migrations:
20201214151021_dogage`,
  );
  assert.equal(migrateSnapshot(result.stdout), `${sqliteLine('my_db')}\n\n2 migrations found in prisma/migrations\n`, output(result));
});

test('migrate status > postgres > should fail if cannot connect', async (t) => {
  const dir = fixture(t, F_SCHEMA_ONLY_POSTGRESQL);
  const result = await prisma(dir, ['migrate', 'status', '--config', 'invalid-url.config.ts']);
  assertServerUnreachable(result);
});
