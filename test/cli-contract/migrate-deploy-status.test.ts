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
import { stripVTControlCharacters } from 'node:util';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { testDatabase } from '../helpers.ts';
import type { RunResult } from '../helpers.ts';
import { BLOG_INIT_SQL, BLOG_SCHEMA, checksum, config, fixture, HISTORY_TABLE_SQL, historyRow, legacyChecksum, output, prisma, SQLITE_LOCK, type Files } from './harness.ts';

// ---------------------------------------------------------------------------------------------------------------------
// Reading what the CLI printed

/** Stdout as Prisma's snapshots see it: colors, the optional "Applying migration" lines and the "created" block removed. */
function normalized(stdout: string): string {
  return stripVTControlCharacters(stdout)
    .replace(/Applying migration .*\n/g, '')
    .replace(/\nSQLite database .* created at .*\n/g, '');
}

/** What a command printed on stdout: its own writes, then its return value (console.log). */
function printed(writes: string, returned: string): string {
  return `${writes}${returned}\n`;
}

/**
 * Stderr split into the CLI's diagnostics ("Loaded Prisma config from …" and "Prisma
 * schema loaded from …") and the rest: the command's console.error and `Error: …`.
 */
function diagnostics(stderr: string): { config?: string; schema?: string; rest: string } {
  const match = /^(?:Loaded Prisma config from (.*)\.\n\n)?(?:Prisma schema loaded from (.*)\.\n)?([\s\S]*)$/.exec(stripVTControlCharacters(stderr));
  assert.ok(match);
  return { config: match[1], schema: match[2], rest: match[3] as string };
}

/** Rejected with `message` (exit 1): stderr holds only the diagnostics and `Error: <message>`. */
function assertRejects(result: RunResult, message: string): void {
  assert.equal(result.code, 1, output(result));
  assert.equal(diagnostics(result.stderr).rest, `Error: ${message}\n`, output(result));
}

/** Exited with `code` by process.exit: no `Error:`; what the command wrote with console.error is `consoleError`. */
function assertExited(result: RunResult, code: number, consoleError: string): void {
  assert.equal(result.code, code, output(result));
  assert.equal(diagnostics(result.stderr).rest, consoleError === '' ? '' : `${consoleError}\n`, output(result));
}

/** Resolved (exit 0) with nothing on console.error. */
function assertResolves(result: RunResult): void {
  assert.equal(result.code, 0, output(result));
  assert.equal(diagnostics(result.stderr).rest, '', output(result));
}

function sqliteLine(name: string, url = 'file:dev.db'): string {
  return `Datasource "${name}": SQLite database "dev.db" at "${url}"`;
}

const NO_SCHEMA = `Could not find Prisma Schema that is required for this command.
You can either provide it with \`--schema\` argument,
set it in your Prisma Config file (e.g., \`prisma7.config.ts\`),
set it as \`prisma.schema\` in your package.json,
or put it into the default location (\`./prisma/schema.prisma\`, or \`./schema.prisma\`.
Checked following paths:

schema.prisma: file not found
prisma/schema.prisma: file not found

See also https://pris.ly/d/prisma-schema-location`;

const NOT_MANAGED = `The current database is not managed by Prisma Migrate.

Read more about how to baseline an existing production database:
https://pris.ly/d/migrate-baseline`;

// ---------------------------------------------------------------------------------------------------------------------
// Reading what a SQLite database holds

interface HistoryRow {
  id: string;
  checksum: string;
  finished_at: string | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: string | null;
  applied_steps_count: number;
}

function readDb(path: string): { tables: string[]; history: HistoryRow[] | null; count: (table: string) => number } {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((row) => row.name);
    const history = tables.includes('_prisma_migrations') ? (db.prepare('SELECT * FROM "_prisma_migrations" ORDER BY started_at, migration_name').all() as HistoryRow[]) : null;
    const counts = Object.fromEntries(tables.map((table) => [table, (db.prepare(`SELECT count(*) AS n FROM "${table}"`).get() as { n: number }).n]));
    return { tables, history, count: (table) => counts[table] ?? -1 };
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Fixtures (Prisma's packages/migrate/src/__tests__/fixtures/<name>)

const CONFIG_A = config('file:dev.db');

/** A config computing its schema path from the cwd, as Prisma's empty/folder/invalid-url configs do. */
function cwdConfig(url: string, ...schema: string[]): string {
  return `import path from 'node:path'

import { defineConfig } from 'prisma/config'

const basePath = process.cwd()

export default defineConfig({
  datasource: {
    url: ${JSON.stringify(url)},
  },
  schema: path.join(basePath, ${schema.map((part) => JSON.stringify(part)).join(', ')}),
})
`;
}

const SQLITE_DATASOURCE = `datasource my_db {
  provider = "sqlite"
}

generator client {
  provider = "prisma-client-js"
  output   = "@prisma/client"
}
`;

const LONG_LOCK = '# Please do not edit this file manually\n# It should be added in your version-control system (i.e. Git)\nprovider = "sqlite"';

const INIT = '20201014154943_init';
const FAILED = '20201106130852_failed';
const FOLDER_INIT = '20240527130802_init';
const RESET_INIT = '20201013134654_init';

const FAILED_SQL = '-- CreateTable\nCREATE BROKEN SCRIPT\n';

const FOLDER_INIT_SQL = `-- CreateTable
CREATE TABLE "Blog" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "viewCount20" INTEGER NOT NULL,
    "ownerId" INTEGER NOT NULL,
    CONSTRAINT "Blog_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "User" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "User" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT
);
`;

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

/** `_prisma_migrations` as Prisma 2.x created it: `logs TEXT NOT NULL`. */
const HISTORY_TABLE_LOGS_NOT_NULL_SQL = HISTORY_TABLE_SQL.replace('"logs" TEXT,', '"logs" TEXT NOT NULL,');

/** The `_Migration` table of Prisma 2's experimental migrate. */
const LEGACY_MIGRATION_TABLE_SQL = `CREATE TABLE "_Migration" (
    "revision" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "datamodel" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "applied" INTEGER NOT NULL,
    "rolled_back" INTEGER NOT NULL,
    "datamodel_steps" TEXT NOT NULL,
    "database_migration" TEXT NOT NULL,
    "errors" TEXT NOT NULL,
    "started_at" DATE NOT NULL,
    "finished_at" DATE
);
`;

const FAILED_LOGS = `script: "-- CreateTable\\nCREATE BROKEN SCRIPT\\n"\nerror: Database error: Error querying the database: near "BROKEN": syntax error`;

const F_NO_CONFIG: Files = {
  'schema.prisma': `generator client {
  provider = "prisma-client"
  output   = "./generated/prisma"
}

datasource db {
  provider = "sqlite"
}

model User {
  id   Int @id @default(autoincrement())
  name String
}
`,
};

const F_EMPTY: Files = { '.gitkeep': '' };

const F_SCHEMA_ONLY_SQLITE: Files = {
  'prisma.config.ts': CONFIG_A,
  'empty.config.ts': cwdConfig('file:dev.db', 'prisma', 'empty.prisma'),
  'prisma/empty.prisma': SQLITE_DATASOURCE,
  'prisma/schema.prisma': BLOG_SCHEMA,
};

const F_NESTED: Files = {
  'config/prisma.config.ts': config('file:dev.db'),
  'config/schema.prisma': `generator client {
  provider = "prisma-client-js"
}

datasource db {
  provider = "sqlite"
}

model User {
  id   Int @id @default(autoincrement())
  name String
}
`,
};

const F_1_MIGRATION: Files = {
  'prisma.config.ts': CONFIG_A,
  'prisma/schema.prisma': BLOG_SCHEMA,
  [`prisma/migrations/${INIT}/migration.sql`]: BLOG_INIT_SQL,
  'prisma/migrations/migration_lock.toml': SQLITE_LOCK,
};

/** In sync: the init migration applied, recorded with Prisma 2's checksum. */
const DB_1_MIGRATION = HISTORY_TABLE_SQL + historyRow(INIT, legacyChecksum(BLOG_INIT_SQL)) + BLOG_INIT_SQL;

/** Blog and Prisma 2's `_Migration`, no `_prisma_migrations`: a non-empty unmanaged database. */
const DB_CONFLICT = BLOG_INIT_SQL + LEGACY_MIGRATION_TABLE_SQL;

const F_1_FAILED: Files = {
  'prisma.config.ts': CONFIG_A,
  'prisma/schema.prisma': BLOG_SCHEMA,
  [`prisma/migrations/${FAILED}/migration.sql`]: FAILED_SQL,
  'prisma/migrations/migration_lock.toml': SQLITE_LOCK,
};

/** Only `_prisma_migrations` (logs NOT NULL) with the failed migration's row. */
const DB_1_FAILED = HISTORY_TABLE_LOGS_NOT_NULL_SQL + historyRow(FAILED, legacyChecksum(FAILED_SQL), { failed: true, logs: FAILED_LOGS });

const F_BASELINE: Files = {
  'prisma.config.ts': CONFIG_A,
  'prisma/schema.prisma': 'datasource my_db {\n  provider = "sqlite"\n}\n',
};

const DB_BASELINE = `CREATE TABLE "Blog" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "viewCount" INTEGER NOT NULL
);
`;

function folderFiles(migrationSql: string): Files {
  return {
    'folder.config.ts': cwdConfig('file:dev.db', 'prisma'),
    'prisma/config.prisma': SQLITE_DATASOURCE,
    'prisma/Blog.prisma': `model Blog {
    id          Int  @id
    viewCount20 Int
    ownerId     Int
    owner       User @relation(fields: [ownerId], references: [id])
}
`,
    'prisma/User.prisma': `model User {
    id Int @id

    blogs Blog[]
}
`,
    [`prisma/migrations/${FOLDER_INIT}/migration.sql`]: migrationSql,
    'prisma/migrations/migration_lock.toml': LONG_LOCK,
  };
}

const F_FOLDER_MIGRATION_EXISTS = folderFiles(FOLDER_INIT_SQL);
const F_FOLDER_DB_EXISTS = folderFiles(FOLDER_INIT_SQL);
const DB_FOLDER_EXISTS = HISTORY_TABLE_SQL + historyRow(FOLDER_INIT, checksum(FOLDER_INIT_SQL)) + FOLDER_INIT_SQL;

const F_BROWNFIELD: Files = { 'prisma.config.ts': CONFIG_A, 'prisma/schema.prisma': BLOG_SCHEMA };
const DB_BROWNFIELD = BLOG_INIT_SQL + 'INSERT INTO "Blog" ("id", "viewCount20") VALUES (1, 2222);\n';

const F_WARNINGS: Files = { 'prisma.config.ts': CONFIG_A, 'prisma/schema.prisma': `${SQLITE_DATASOURCE}\nmodel Post {\n  id Int @id\n}\n` };

const F_RESET: Files = {
  'prisma.config.ts': CONFIG_A,
  'prisma/schema.prisma': BLOG_SCHEMA,
  [`prisma/migrations/${RESET_INIT}/migration.sql`]: BLOG_INIT_SQL,
};

/** Prisma 2's `_Migration`, and `_prisma_migrations` in its oldest shape (logs NOT NULL, a `script` column), in sync. */
const DB_RESET =
  LEGACY_MIGRATION_TABLE_SQL +
  HISTORY_TABLE_LOGS_NOT_NULL_SQL.replace('"applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0\n', '"applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0,\n    "script" TEXT NOT NULL\n') +
  `INSERT INTO "_prisma_migrations" ("id", "checksum", "finished_at", "migration_name", "logs", "rolled_back_at", "started_at", "applied_steps_count", "script") VALUES ('${RESET_INIT}-row', '${legacyChecksum(BLOG_INIT_SQL)}', '2020-10-13 13:46:54', '${RESET_INIT}', '', NULL, '2020-10-13 13:46:54', 1, '${BLOG_INIT_SQL.replace(/'/g, "''")}');\n` +
  BLOG_INIT_SQL;

const F_HISTORIES_DIVERGE: Files = {
  'prisma.config.ts': CONFIG_A,
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

const ACCELERATE_URL = 'prisma://aws-us-east-1.prisma-data.com/?api_key=MY_API_KEY';

function dataProxyFiles(url: string): Files {
  return {
    'prisma.config.ts': config(url),
    'schema.prisma': `generator client {
    provider = "prisma-client-js"
}

datasource db {
    provider = "postgresql"
}
`,
  };
}

const F_SCHEMA_ONLY_POSTGRESQL: Files = {
  'invalid-url.config.ts': cwdConfig('postgresql://johndoe:randompassword@doesnotexist:5432/mydb?schema=public', 'prisma', 'invalid-url.prisma'),
  'prisma/invalid-url.prisma': 'datasource my_db {\n  provider = "postgresql"\n}\n',
};

// ---------------------------------------------------------------------------------------------------------------------
// MigrateDeploy.test.ts

test('migrate deploy > prisma.config.ts > should require a datasource in the config', async (t) => {
  const dir = fixture(t, F_NO_CONFIG);
  const result = await prisma(dir, ['migrate', 'deploy']);
  assertRejects(result, 'The datasource.url property is required in your Prisma config file when using prisma migrate deploy.');
  assert.equal(diagnostics(result.stderr).schema, 'schema.prisma', output(result));
  assert.equal(normalized(result.stdout), '', output(result));
});

test('migrate deploy > common > should fail if no schema file', async (t) => {
  const dir = fixture(t, F_EMPTY);
  const result = await prisma(dir, ['migrate', 'deploy']);
  assertRejects(result, NO_SCHEMA);
});

test('migrate deploy > SQLite > no unapplied migrations', async (t) => {
  const dir = fixture(t, F_SCHEMA_ONLY_SQLITE);
  const result = await prisma(dir, ['migrate', 'deploy', '--config', 'empty.config.ts']);
  assertResolves(result);
  assert.equal(diagnostics(result.stderr).schema, 'prisma/empty.prisma', output(result));
  assert.equal(normalized(result.stdout), printed(`${sqliteLine('my_db')}\n\nNo migration found in prisma/migrations\n\n\n`, 'No pending migrations to apply.'), output(result));
  assert.ok(existsSync(join(dir, 'dev.db')), 'deploy creates the missing dev.db next to the config');
});

test('migrate deploy > SQLite > should work with nested config and schema', async (t) => {
  const dir = fixture(t, F_NESTED);
  const result = await prisma(dir, ['migrate', 'deploy', '--config', 'config/prisma.config.ts']);
  assertResolves(result);
  assert.equal(diagnostics(result.stderr).schema, 'config/schema.prisma', output(result));
  assert.equal(normalized(result.stdout), printed(`${sqliteLine('db')}\n\nNo migration found in prisma/migrations\n\n\n`, 'No pending migrations to apply.'), output(result));
  assert.ok(existsSync(join(dir, 'config', 'dev.db')), 'the database is config/dev.db, next to the config');
  assert.ok(!existsSync(join(dir, 'dev.db')), 'nothing is created next to the cwd');
});

test('migrate deploy > SQLite > 1 unapplied migration', async (t) => {
  const dir = fixture(t, F_1_MIGRATION); // fs.remove('dev.db'): the fixture's database is not built
  const block = `${sqliteLine('my_db')}\n\n1 migration found in prisma/migrations\n\n\n`;
  const first = await prisma(dir, ['migrate', 'deploy']);
  assertResolves(first);
  assert.equal(
    normalized(first.stdout),
    printed(block, `The following migration(s) have been applied:\n\nmigrations/\n  └─ ${INIT}/\n    └─ migration.sql\n\nAll migrations have been successfully applied.`),
    output(first),
  );
  const second = await prisma(dir, ['migrate', 'deploy']);
  assertResolves(second);
  assert.equal(normalized(second.stdout), printed(block, 'No pending migrations to apply.'), output(second));
  const db = readDb(join(dir, 'dev.db'));
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
    normalized(first.stdout),
    printed(block, `The following migration(s) have been applied:\n\nmigrations/\n  └─ ${FOLDER_INIT}/\n    └─ migration.sql\n\nAll migrations have been successfully applied.`),
    output(first),
  );
  const second = await prisma(dir, ['migrate', 'deploy', '--config', 'folder.config.ts']);
  assertResolves(second);
  assert.equal(normalized(second.stdout), printed(block, 'No pending migrations to apply.'), output(second));
  const db = readDb(join(dir, 'dev.db'));
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
  assert.equal(normalized(result.stdout), `${sqliteLine('my_db')}\n\n1 migration found in prisma/migrations\n\n`, output(result));
  const db = readDb(join(dir, 'dev.db'));
  assert.deepEqual(db.tables, ['Blog', '_Migration', 'sqlite_sequence'], 'nothing is applied, no history table');
});

test('migrate deploy > postgres > should fail if url is prisma://', async (t) => {
  const dir = fixture(t, dataProxyFiles(ACCELERATE_URL));
  const result = await prisma(dir, ['migrate', 'deploy']);
  assertRejects(
    result,
    '\nUsing an Accelerate URL is not supported for this CLI command prisma migrate deploy yet.\nPlease use a direct connection to your database in `prisma7.config.ts`.\n\nMore information about this limitation: https://pris.ly/d/accelerate-limitations\n',
  );
});

test('migrate deploy > postgres > should work if direct URL is set via config', async (t) => {
  const pg = await testDatabase(t, 'postgresql');
  const url = new URL(pg.url);
  const dir = fixture(t, dataProxyFiles(pg.url));
  const result = await prisma(dir, ['migrate', 'deploy']);
  assertResolves(result);
  assert.equal(result.stderr, 'Loaded Prisma config from prisma.config.ts.\n\nPrisma schema loaded from schema.prisma.\n', output(result));
  assert.equal(
    normalized(result.stdout),
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
  assertRejects(result, 'The datasource.url property is required in your Prisma config file when using prisma migrate status.');
});

test('migrate status > common > should fail if no schema file', async (t) => {
  const dir = fixture(t, F_EMPTY);
  const result = await prisma(dir, ['migrate', 'status']);
  assertRejects(result, NO_SCHEMA);
});

test('migrate status > SQLite > should fail if no sqlite db - empty schema', async (t) => {
  const dir = fixture(t, F_SCHEMA_ONLY_SQLITE);
  const result = await prisma(dir, ['migrate', 'status', '--config', 'empty.config.ts']);
  assertRejects(result, 'P1003: Database `dev.db` does not exist');
  assert.equal(normalized(result.stdout), `${sqliteLine('my_db')}\n`, output(result));
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
  assert.equal(normalized(result.stdout), `${sqliteLine('my_db')}\n\n1 migration found in prisma/migrations\n`, output(result));
});

test('migrate status > SQLite > should error when database needs to be baselined', async (t) => {
  const dir = fixture(t, F_BASELINE, { 'dev.db': DB_BASELINE });
  const result = await prisma(dir, ['migrate', 'status']);
  assertExited(result, 1, NOT_MANAGED);
  assert.equal(normalized(result.stdout), `${sqliteLine('my_db')}\n\nNo migration found in prisma/migrations\n`, output(result));
});

test('migrate status > SQLite > existing-db-1-migration', async (t) => {
  const dir = fixture(t, F_1_MIGRATION, { 'dev.db': DB_1_MIGRATION });
  const result = await prisma(dir, ['migrate', 'status']);
  assertResolves(result);
  assert.equal(normalized(result.stdout), printed(`${sqliteLine('my_db')}\n\n1 migration found in prisma/migrations\n\n`, 'Database schema is up to date!'), output(result));
});

test('migrate status > SQLite > schema-folder-db-exists', async (t) => {
  const dir = fixture(t, F_FOLDER_DB_EXISTS, { 'dev.db': DB_FOLDER_EXISTS });
  const result = await prisma(dir, ['migrate', 'status', '--config', 'folder.config.ts']);
  assertResolves(result);
  assert.equal(normalized(result.stdout), printed(`${sqliteLine('my_db')}\n\n1 migration found in prisma/migrations\n\n`, 'Database schema is up to date!'), output(result));
});

test('migrate status > SQLite > existing-db-1-migration-conflict', async (t) => {
  const dir = fixture(t, F_1_MIGRATION, { 'dev.db': DB_CONFLICT });
  const result = await prisma(dir, ['migrate', 'status']);
  assertExited(result, 1, '');
  assert.equal(
    normalized(result.stdout),
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
  const dir = fixture(t, F_BROWNFIELD, { 'dev.db': DB_BROWNFIELD });
  const result = await prisma(dir, ['migrate', 'status']);
  assertExited(result, 1, NOT_MANAGED);
  assert.equal(normalized(result.stdout), `${sqliteLine('my_db')}\n\nNo migration found in prisma/migrations\n`, output(result));
});

test('migrate status > SQLite > existing-db-warnings', async (t) => {
  const dir = fixture(t, F_WARNINGS, { 'dev.db': DB_BROWNFIELD });
  const result = await prisma(dir, ['migrate', 'status']);
  assertExited(result, 1, NOT_MANAGED);
  assert.equal(normalized(result.stdout), `${sqliteLine('my_db')}\n\nNo migration found in prisma/migrations\n`, output(result));
});

test('migrate status > SQLite > reset', async (t) => {
  const dir = fixture(t, F_RESET, { 'dev.db': DB_RESET });
  const result = await prisma(dir, ['migrate', 'status']);
  assertResolves(result);
  assert.equal(normalized(result.stdout), printed(`${sqliteLine('my_db')}\n\n1 migration found in prisma/migrations\n\n`, 'Database schema is up to date!'), output(result));
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
  assert.equal(normalized(result.stdout), `${sqliteLine('my_db')}\n\n2 migrations found in prisma/migrations\n`, output(result));
});

test('migrate status > postgres > should fail if cannot connect', async (t) => {
  const dir = fixture(t, F_SCHEMA_ONLY_POSTGRESQL);
  const result = await prisma(dir, ['migrate', 'status', '--config', 'invalid-url.config.ts']);
  assert.equal(result.code, 1, output(result));
  assert.equal(
    result.stderr,
    "Loaded Prisma config from invalid-url.config.ts.\n\nPrisma schema loaded from prisma/invalid-url.prisma.\nError: P1001: Can't reach database server at `doesnotexist:5432`\n\nPlease make sure your database server is running at `doesnotexist:5432`.\n",
    output(result),
  );
  assert.equal(normalized(result.stdout), 'Datasource "my_db": PostgreSQL database "mydb", schema "public" at "doesnotexist:5432"\n', output(result));
});
