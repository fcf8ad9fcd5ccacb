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
import { spawn } from 'node:child_process';
import { existsSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { projectRoot } from '../../src/db.ts';
import { childEnv, execCapture, type RunResult } from '../helpers.ts';
import { BLOG_INIT_SQL, BLOG_SCHEMA, checksum, config, fixture, HISTORY_TABLE_SQL, historyRow, legacyChecksum, output, prisma, SQLITE_LOCK, type Files } from './harness.ts';

// ---------------------------------------------------------------------------------------------------------------------
// Running the CLI other than through the harness: as `prisma7`, and in a pseudo-terminal

const CLI = join(projectRoot, 'node_modules', 'prisma', 'build', 'index.js');

/** The harness's environment for the CLI (the kit's engine, no DATABASE_URL, no AI-agent markers), with `env`. */
function cliEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const agentMarkers = ['CLAUDECODE', 'CODEX_THREAD_ID', 'CODEX_CI', 'CODEX_SANDBOX', 'CODEX_SANDBOX_NETWORK_DISABLED', 'GEMINI_CLI', 'QWEN_CODE', 'CURSOR_AGENT', 'COPILOT_CLI', 'OPENCODE', 'CLINE_ACTIVE', 'AGENT', 'AI_AGENT', 'CRUSH', 'OR_APP_NAME', 'AUGMENT_AGENT', 'ANTIGRAVITY_AGENT', 'REPLIT_SESSION'];
  return childEnv({
    PRISMA_SCHEMA_ENGINE_BINARY: join(projectRoot, 'bin', 'schema-engine'),
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    CHECKPOINT_DISABLE: '1',
    CI: '1',
    DATABASE_URL: undefined,
    DIRECT_DATABASE_URL: undefined,
    SHADOW_DATABASE_URL: undefined,
    PRISMA_DIR: undefined,
    NODE_ENV: undefined,
    ...Object.fromEntries(agentMarkers.map((name) => [name, undefined])),
    ...env,
  });
}

/** The CLI run as `prisma7`: through a link of that name, the identity the 7.x build derives from `process.argv[1]`. */
function prisma7(cwd: string, args: string[]): Promise<RunResult> {
  const link = join(cwd, 'prisma7');
  if (!existsSync(link)) symlinkSync(CLI, link);
  return execCapture(process.execPath, [link, ...args], { cwd, env: cliEnv({}) }).done;
}

const PROMPT = /\? Are you sure you want to reset your database\? All data will be lost\. › \(y\/N\)✔ Are you sure you want to reset your database\? All data will be lost\. … (yes|no)\n/;

/**
 * `prisma <args>` with a pseudo-terminal on its stdin and stdout (`script -qec`), CI unset:
 * an interactive user. `answer` is typed once the prompt shows. The terminal merges stdout
 * and stderr: `text` is what it showed, colors and carriage returns removed.
 */
function prismaInTerminal(cwd: string, args: string[], answer: string): Promise<{ code: number; text: string; prompted: boolean }> {
  const quote = (word: string) => `'${word.replace(/'/g, "'\\''")}'`;
  const command = [process.execPath, CLI, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd,
      env: cliEnv({ CI: undefined, CONTINUOUS_INTEGRATION: undefined, BUILD_NUMBER: undefined, RUN_ID: undefined, TERM: 'xterm' }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let raw = '';
    let prompted = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      raw += chunk;
      if (!prompted && stripVTControlCharacters(raw).includes('Are you sure you want to reset your database?')) {
        prompted = true;
        setTimeout(() => child.stdin.write(answer), 200);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code: code ?? (signal ? 128 : 1), text: stripVTControlCharacters(raw).replace(/\r\n/g, '\n'), prompted });
    });
  });
}

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
  return normalized(rest);
}

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

const F_1_FAILED: Files = {
  'prisma.config.ts': CONFIG_A,
  'prisma/schema.prisma': BLOG_SCHEMA,
  [`prisma/migrations/${FAILED}/migration.sql`]: FAILED_SQL,
  'prisma/migrations/migration_lock.toml': SQLITE_LOCK,
};

/** Only `_prisma_migrations` (logs NOT NULL) with the failed migration's row. */
const DB_1_FAILED = HISTORY_TABLE_LOGS_NOT_NULL_SQL + historyRow(FAILED, legacyChecksum(FAILED_SQL), { failed: true, logs: FAILED_LOGS });

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

const FOLDER_FAILED_SQL = 'BROKEN SCRIPT;';
const F_FOLDER_FAILED = folderFiles(FOLDER_FAILED_SQL);
/** Only `_prisma_migrations` with the failed init's row. */
const DB_FOLDER_FAILED =
  HISTORY_TABLE_SQL +
  historyRow(FOLDER_INIT, checksum(FOLDER_FAILED_SQL), {
    failed: true,
    logs: 'A migration failed to apply. New migrations cannot be applied before the error is recovered from.\n\nMigration name: 20240527130802_init\n\nDatabase error code: 1\n\nDatabase error:\nnear "BROKEN": syntax error',
  });

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
  'prisma/schema.prisma': `generator client {
  provider = "prisma-client-js"
}

datasource db {
  provider = "sqlite"
}

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

const F_SCHEMA_ONLY_POSTGRESQL: Files = {
  'invalid-url.config.ts': cwdConfig('postgresql://johndoe:randompassword@doesnotexist:5432/mydb?schema=public', 'prisma', 'invalid-url.prisma'),
  'prisma/invalid-url.prisma': 'datasource my_db {\n  provider = "postgresql"\n}\n',
};


/** What a SQLite database holds, to compare before and after a command that must not touch it. */
function snapshot(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const schema = db.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY name").all() as { name: string }[];
    const rows = Object.fromEntries(
      schema.filter((entry) => (entry as { type?: string }).type === 'table').map((entry) => [entry.name, db.prepare(`SELECT * FROM "${entry.name}"`).all()]),
    );
    return JSON.stringify({ schema, rows });
  } finally {
    db.close();
  }
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

const ACCELERATE_RESET = '\nUsing an Accelerate URL is not supported for this CLI command prisma migrate reset yet.\nPlease use a direct connection to your database in `prisma7.config.ts`.\n\nMore information about this limitation: https://pris.ly/d/accelerate-limitations\n';

const NON_INTERACTIVE = `Prisma Migrate has detected that the environment is non-interactive. It is recommended to run this command in an interactive environment.

Use --force to run this command without user interaction.
See https://pris.ly/d/migrate-reset`;

/** The reset's success block with one migration applied. */
function resetApplied(name: string): string {
  return `Database reset successful\n\nThe following migration(s) have been applied:\n\nmigrations/\n  └─ ${name}/\n    └─ migration.sql\n`;
}

/** After a reset of the F-reset database: everything dropped (the legacy tables too), the init re-applied. */
function assertResetApplied(path: string): void {
  const db = readDb(path);
  assert.deepEqual(db.tables, ['Blog', '_prisma_migrations', 'sqlite_sequence'], 'Prisma 2’s _Migration is gone, Blog re-created');
  assert.deepEqual(
    db.history?.map((row) => [row.migration_name, row.checksum, row.finished_at !== null, row.rolled_back_at]),
    [[RESET_INIT, checksum(BLOG_INIT_SQL), true, null]],
  );
  assert.ok(db.history && !('script' in (db.history[0] as object)), 'the history table is re-created in its current shape');
  assert.equal(db.count('Blog'), 0);
}

/** After a reset with nothing to apply: no table of the user's left, no migration recorded. */
function assertResetEmpty(path: string): void {
  const db = readDb(path);
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
  assertRejects(result, 'The datasource.url property is required in your Prisma config file when using prisma migrate resolve.');
});

test('migrate resolve > common > prisma > renders help and help examples with the selected executable', async (t) => {
  const dir = fixture(t, F_SCHEMA_ONLY_SQLITE);
  const help = await prisma(dir, ['migrate', 'resolve', '--help']);
  assert.equal(help.code, 0, output(help));
  assert.ok(help.stdout.includes('prisma migrate resolve [options]'), output(help));
  assert.ok(help.stdout.includes('Run "prisma migrate status" to identify if you need to use resolve.'), output(help));
  assert.ok(!help.stdout.includes('prisma7 migrate resolve [options]'), output(help));
  const result = await prisma(dir, ['migrate', 'resolve']);
  assert.equal(result.code, 1, output(result));
  assert.ok(result.stderr.includes('--applied or --rolled-back must be part of the command like:'), output(result));
  assert.ok(result.stderr.includes('prisma migrate resolve --applied 20201231000000_example'), output(result));
  assert.ok(result.stderr.includes('prisma migrate resolve --rolled-back 20201231000000_example'), output(result));
  assert.ok(!result.stderr.includes('P1003'), 'no connection is tried');
  assert.ok(!existsSync(join(dir, 'dev.db')), 'no database is created');
});

test('migrate resolve > common > prisma7 > renders help and help examples with the selected executable', async (t) => {
  const dir = fixture(t, F_SCHEMA_ONLY_SQLITE);
  const help = await prisma7(dir, ['migrate', 'resolve', '--help']);
  assert.equal(help.code, 0, output(help));
  assert.ok(help.stdout.includes('prisma7 migrate resolve [options]'), output(help));
  assert.ok(help.stdout.includes('Run "prisma7 migrate status" to identify if you need to use resolve.'), output(help));
  assert.ok(!help.stdout.includes('prisma migrate resolve [options]'), output(help));
  const result = await prisma7(dir, ['migrate', 'resolve']);
  assert.equal(result.code, 1, output(result));
  assert.ok(result.stderr.includes('--applied or --rolled-back must be part of the command like:'), output(result));
  assert.ok(result.stderr.includes('prisma7 migrate resolve --applied 20201231000000_example'), output(result));
  assert.ok(result.stderr.includes('prisma7 migrate resolve --rolled-back 20201231000000_example'), output(result));
  assert.ok(!existsSync(join(dir, 'dev.db')), 'no database is created');
});

test('migrate resolve > common > should fail if no schema file', async (t) => {
  const dir = fixture(t, F_EMPTY);
  const result = await prisma(dir, ['migrate', 'resolve']);
  assertRejects(result, NO_SCHEMA);
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
  assert.equal(normalized(result.stdout), `${sqliteLine('my_db')}\n`, output(result));
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
  assert.equal(normalized(result.stdout), printed(`${sqliteLine('my_db')}\n\nMigration ${FAILED} marked as applied.\n`, ''), output(result));
  // Prisma's engine (mark_migration_applied): the failed row is rolled back, a finished row is added; the script is not run.
  const db = readDb(join(dir, 'dev.db'));
  assert.deepEqual(db.tables, ['_prisma_migrations'], 'the broken script is not run');
  assert.deepEqual(
    db.history?.map((row) => [row.migration_name, row.finished_at !== null, row.rolled_back_at !== null]).sort(),
    [
      [FAILED, false, true],
      [FAILED, true, false],
    ],
  );
  assert.equal(db.history?.find((row) => row.finished_at !== null)?.checksum, checksum(FAILED_SQL), 'recorded with the checksum of the local script');
});

test('migrate resolve > SQLite > --applied should work on a failed migration (schema folder)', async (t) => {
  const dir = fixture(t, F_FOLDER_FAILED, { 'dev.db': DB_FOLDER_FAILED });
  const result = await prisma(dir, ['migrate', 'resolve', '--applied', FOLDER_INIT, '--config', 'folder.config.ts']);
  assertResolves(result);
  assert.equal(normalized(result.stdout), printed(`${sqliteLine('my_db')}\n\nMigration ${FOLDER_INIT} marked as applied.\n`, ''), output(result));
  const db = readDb(join(dir, 'dev.db'));
  assert.deepEqual(db.tables, ['_prisma_migrations'], 'the broken script is not run');
  assert.deepEqual(
    db.history?.map((row) => [row.migration_name, row.finished_at !== null, row.rolled_back_at !== null]).sort(),
    [
      [FOLDER_INIT, false, true],
      [FOLDER_INIT, true, false],
    ],
  );
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
  assert.equal(normalized(result.stdout), printed(`${sqliteLine('my_db')}\n\nMigration ${FAILED} marked as rolled back.\n`, ''), output(result));
  // Prisma's engine: the failed row gets rolled_back_at; no row is added.
  const db = readDb(join(dir, 'dev.db'));
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
    assert.equal(normalized(result.stdout), printed(`${sqliteLine('my_db')}\n\nMigration ${FAILED} marked as rolled back.\n`, ''), `${run} run\n${output(result)}`);
  }
});

test('migrate resolve > postgres > should fail if no db - invalid url', async (t) => {
  const dir = fixture(t, F_SCHEMA_ONLY_POSTGRESQL);
  const result = await prisma(dir, ['migrate', 'resolve', '--applied=something_applied', '--config', 'invalid-url.config.ts']);
  assert.equal(result.code, 1, output(result));
  assert.equal(
    result.stderr,
    "Loaded Prisma config from invalid-url.config.ts.\n\nPrisma schema loaded from prisma/invalid-url.prisma.\nError: P1001: Can't reach database server at `doesnotexist:5432`\n\nPlease make sure your database server is running at `doesnotexist:5432`.\n",
    output(result),
  );
  assert.equal(normalized(result.stdout), 'Datasource "my_db": PostgreSQL database "mydb", schema "public" at "doesnotexist:5432"\n', output(result));
});

// ---------------------------------------------------------------------------------------------------------------------
// MigrateReset.test.ts

test('migrate reset > prisma.config.ts > should require a datasource in the config', async (t) => {
  const dir = fixture(t, F_NO_CONFIG);
  const result = await prisma(dir, ['migrate', 'reset']);
  assertRejects(result, 'The datasource.url property is required in your Prisma config file when using prisma migrate reset.');
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
  assertRejects(result, NO_SCHEMA);
});

test('migrate reset > reset > should work (prompt)', async (t) => {
  const dir = fixture(t, F_RESET, { 'dev.db': DB_RESET });
  const result = await prismaInTerminal(dir, ['migrate', 'reset'], 'y');
  assert.equal(result.code, 0, result.text);
  assert.equal(terminalStdout(result.text, 'yes'), printed(`${sqliteLine('my_db')}\n\n\n\n${resetApplied(RESET_INIT)}`, ''), result.text);
  assertResetApplied(join(dir, 'dev.db'));
});

test('migrate reset > reset > should work (--force)', async (t) => {
  const dir = fixture(t, F_RESET, { 'dev.db': DB_RESET });
  const result = await prisma(dir, ['migrate', 'reset', '--force']);
  assertResolves(result);
  assert.equal(normalized(result.stdout), printed(`${sqliteLine('my_db')}\n\n\n${resetApplied(RESET_INIT)}`, ''), output(result));
  assertResetApplied(join(dir, 'dev.db'));
});

test('migrate reset > reset > should work with nested config and schema', async (t) => {
  const dir = fixture(t, F_NESTED);
  const result = await prisma(dir, ['migrate', 'reset', '--force', '--config', 'config/prisma.config.ts']);
  assertResolves(result);
  assert.equal(normalized(result.stdout), printed(`${sqliteLine('db')}\n\nDatabase reset successful\n\n`, ''), output(result));
  assert.ok(existsSync(join(dir, 'config', 'dev.db')), 'the database is config/dev.db, next to the config');
  assert.ok(!existsSync(join(dir, 'dev.db')), 'nothing is created next to the cwd');
  assertResetEmpty(join(dir, 'config', 'dev.db'));
});

test('migrate reset > reset > should work with folder (--force)', async (t) => {
  const dir = fixture(t, F_FOLDER_MIGRATION_EXISTS);
  const result = await prisma(dir, ['migrate', 'reset', '--force', '--config', 'folder.config.ts']);
  assertResolves(result);
  assert.equal(normalized(result.stdout), printed(`${sqliteLine('my_db')}\n\n\n${resetApplied(FOLDER_INIT)}`, ''), output(result));
  const db = readDb(join(dir, 'dev.db'));
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
  assert.equal(normalized(result.stdout), printed(`${sqliteLine('my_db')}\n\n\n${resetApplied(RESET_INIT)}`, ''), output(result));
  const db = readDb(join(dir, 'dev.db'));
  assert.deepEqual(db.tables, ['Blog', '_prisma_migrations', 'sqlite_sequence']);
  assert.deepEqual(
    db.history?.map((row) => [row.migration_name, row.finished_at !== null]),
    [[RESET_INIT, true]],
  );
});

test('migrate reset > reset > without the migrations directory should fail (prompt)', async (t) => {
  const dir = fixture(t, F_RESET, { 'dev.db': DB_RESET });
  rmSync(join(dir, 'prisma', 'migrations'), { recursive: true });
  const result = await prismaInTerminal(dir, ['migrate', 'reset'], 'y');
  assert.equal(result.code, 0, result.text);
  assert.equal(terminalStdout(result.text, 'yes'), printed(`${sqliteLine('my_db')}\n\n\nDatabase reset successful\n\n`, ''), result.text);
  assertResetEmpty(join(dir, 'dev.db'));
});

test('migrate reset > reset > should be cancelled if user send n (prompt)', async (t) => {
  const dir = fixture(t, F_RESET, { 'dev.db': DB_RESET });
  const before = snapshot(join(dir, 'dev.db'));
  const result = await prismaInTerminal(dir, ['migrate', 'reset'], 'n');
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
  assertRejects(result, ACCELERATE_RESET);
  assert.equal(normalized(result.stdout), '', output(result));
});

test('migrate reset > reset > reset - seed.js in prisma.config.ts', async (t) => {
  const dir = fixture(t, F_SEED);
  const result = await prismaInTerminal(dir, ['migrate', 'reset'], 'y');
  assert.equal(result.code, 0, result.text);
  // The whole terminal, diagnostics and prompt aside: no seed output, no warning.
  assert.equal(terminalStdout(result.text, 'yes'), printed(`${sqliteLine('db', 'file:./dev.db')}\n\n\nDatabase reset successful\n\n`, ''), result.text);
  assert.ok(!result.text.includes('Hello from seed.js') && !result.text.includes('Goodbye from seed.js'), `the seed is not run\n${result.text}`);
  assert.ok(!/seed/i.test(result.text), `no seed message\n${result.text}`);
  assert.ok(existsSync(join(dir, 'dev.db')), 'the database is created next to the config');
});
