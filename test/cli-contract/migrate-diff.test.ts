/**
 * `prisma migrate diff`: the kept cases of Prisma's MigrateDiff.test.ts (packages/migrate,
 * 7.x), run as the real CLI on the kit's engine.
 *
 * How a case of Prisma's reads on the CLI: a command that resolves exits 0, its stdout the
 * engine's `print` content plus "\n" (what the snapshot shows), then one more "\n" from the
 * CLI's `console.log('')`; one that rejects exits 1 with `Error: <message>` on stderr and
 * nothing on stdout; `--exit-code` with a difference exits 2 and prints no trailing "\n".
 * Each case first asserts the facts of its snapshot one by one, then the exact bytes.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { testDatabase, type RunResult } from '../helpers.ts';
import { BLOG_SCHEMA, externalTablesFiles, INTROSPECTION_SQLITE_DB, INTROSPECTION_SQLITE_SCHEMA, NESTED_SQLITE_SCHEMA, POSTGRES_BLOG_SCHEMA, schemaFolderFiles } from './fixtures.ts';
import { fixture, output, prisma, type Files } from './harness.ts';

// --- Fixtures (Prisma's, under packages/migrate/src/__tests__/fixtures) -------------------

/** What `env('TEST_POSTGRES_URI')` gives the generic cases: Prisma CI's value; nothing connects to it. */
const TEST_POSTGRES_URI = 'postgres://prisma:prisma@localhost:5432/tests';

/** schema-only: a PostgreSQL schema without models, its URL from the environment. */
const SCHEMA_ONLY: Files = {
  'prisma.config.ts': `import { defineConfig, env } from '@prisma/config'

export default defineConfig({
  datasource: {
    url: env('TEST_POSTGRES_URI'),
  },
})
`,
  'prisma/schema.prisma': `// A schema without models: the datasource and the generator only.

datasource db {
  provider = "postgresql"
}

generator client {
  provider = "prisma-client-js"
}
`,
};

const SQLITE_DEV_CONFIG = `import { defineConfig } from '@prisma/config'

export default defineConfig({
  datasource: {
    url: 'file:dev.db',
  },
})
`;

/** A config whose datasource URL is `url` (what Prisma's `ctx.setDatasource({ url })` does). */
function sqliteConfig(url: string): string {
  return SQLITE_DEV_CONFIG.replace("'file:dev.db'", `'${url}'`);
}

/** schema-only-sqlite: the Blog model, no dev.db. */
const SCHEMA_ONLY_SQLITE: Files = {
  'prisma.config.ts': SQLITE_DEV_CONFIG,
  'prisma/schema.prisma': BLOG_SCHEMA,
};

/** schema-folder-sqlite: the same, split over three files in prisma/schema/, with a User model. */
const SCHEMA_FOLDER_SQLITE: Files = { 'prisma.config.ts': SQLITE_DEV_CONFIG, ...schemaFolderFiles('sqlite') };

/** introspection/sqlite: schema.prisma at the root, and a dev.db (INTROSPECTION_SQLITE_DB) made by an older Prisma. */
const INTROSPECTION_SQLITE: Files = { 'prisma.config.ts': SQLITE_DEV_CONFIG, 'schema.prisma': INTROSPECTION_SQLITE_SCHEMA };

/** prisma-config-nested-sqlite: the config and its schema in config/, nothing at the root. */
const NESTED_SQLITE: Files = {
  'config/prisma.config.ts': `import { defineConfig } from '@prisma/config'
export default defineConfig({
  datasource: {
    url: 'file:dev.db',
  },
})
`,
  'config/schema.prisma': NESTED_SQLITE_SCHEMA,
};

/** schema-only-postgresql, its URL the test's own database (Prisma's ctx.setDatasource). */
function schemaOnlyPostgresql(url: string): Files {
  return {
    'prisma.config.ts': `import { defineConfig } from '@prisma/config'

export default defineConfig({
  datasource: {
    url: ${JSON.stringify(url)},
  },
})
`,
    'prisma/schema.prisma': POSTGRES_BLOG_SCHEMA,
  };
}

// --- What the CLI prints -----------------------------------------------------------------

const LOADED = 'Loaded Prisma config from prisma.config.ts.\n\n';

/** The usage block every HelpError of `migrate diff` ends with. */
const USAGE = `Usage

  $ prisma migrate diff [options]

Options

  -h, --help               Display this help message
  --config                 Custom path to your Prisma config file
  -o, --output             Writes to a file instead of stdout

From and To inputs (1 \`--from-...\` and 1 \`--to-...\` must be provided):
  --from-empty             Flag to assume from or to is an empty datamodel
  --to-empty

  --from-schema            Path to a Prisma schema file, uses the datamodel for the diff
  --to-schema

  --from-migrations        Path to the Prisma Migrate migrations directory
  --to-migrations

  --from-config-datasource Flag to use the datasource from the Prisma config file
  --to-config-datasource

Flags

  --script                 Render a SQL script to stdout instead of the default human readable summary (not supported on MongoDB)
  --exit-code              Change the exit code behavior to signal if the diff is empty or not (Empty: 0, Error: 1, Not empty: 2). Default behavior is Success: 0, Error: 1.
`;

const DROP_BLOG_SCRIPT = '-- DropTable\nPRAGMA foreign_keys=off;\nDROP TABLE "Blog";\nPRAGMA foreign_keys=on;\n';

/**
 * A command that resolved: exit 0, no error on stderr, stdout the lines of `snapshot` (the
 * engine's print, as Prisma's snapshot shows it). The exact bytes, with the CLI's own
 * trailing "\n", are asserted last in each case (assertExactStdout), after its other facts.
 */
function assertResolved(result: RunResult, snapshot: string): void {
  assert.equal(result.code, 0, output(result));
  assert.doesNotMatch(result.stderr, /^Error:/m, output(result));
  assertLines(result.stdout, snapshot, result);
}

/** Stdout byte for byte: the snapshot, then the CLI's `console.log('')` (none after an --exit-code exit). */
function assertExactStdout(result: RunResult, snapshot: string, consoleLog = true): void {
  const expected = consoleLog ? `${snapshot}\n` : snapshot;
  assert.equal(result.stdout, expected, `stdout is exactly the snapshot${consoleLog ? ', then the CLI\'s one "\\n"' : ''}\n${output(result)}`);
}

/** Each line of the snapshot, in order, before the exact bytes: a difference names its line. */
function assertLines(stdout: string, snapshot: string, result: RunResult): void {
  const expected = snapshot.replace(/\n$/, '').split('\n');
  const printed = stdout.split('\n');
  expected.forEach((line, i) => assert.equal(printed[i], line, `line ${i + 1} of stdout\n${output(result)}`));
}

/**
 * A command that rejected: exit 1, nothing on stdout, stderr `Error: <message>` (bin.ts's
 * console.error), after the config's line when one was loaded; nothing else logged.
 */
function assertRejected(result: RunResult, message: string, loaded = LOADED): void {
  assert.equal(result.code, 1, output(result));
  assert.equal(result.stdout, '', output(result));
  assert.equal(result.stderr, `${loaded}Error: ${message}\n`, `stderr is the config's line and the error message only\n${output(result)}`);
}

/** Prisma's EngineError for a code: the code on its own line, then the message. */
function engineError(code: string, message: string): string {
  return `${code}\n\n${message}\n`;
}

/** The HelpError of a wrong invocation: the reason, a blank line, the usage block. */
function helpError(reason: string): string {
  return `\n${reason}\n\n${USAGE}`;
}

const P1003_DOESNOTEXISTS = engineError('P1003', 'Database `doesnotexists.db` does not exist');

function env(): NodeJS.ProcessEnv {
  return { TEST_POSTGRES_URI };
}

// --- generic ---------------------------------------------------------------------------

test('migrate diff > generic > wrong flag', async (t) => {
  const dir = fixture(t, {}); // no fixture: an empty folder, no config
  const result = await prisma(dir, ['migrate', 'diff', '--something']);
  assert.equal(result.code, 1, output(result));
  assert.match(result.stderr, /^unknown or unexpected option: --something$/m, output(result));
  assert.equal(result.stderr.match(/^Usage$/gm)?.length, 1, `help is given once\n${output(result)}`);
  assertRejected(result, helpError('unknown or unexpected option: --something'), '');
});

test('migrate diff > generic > help flag', async (t) => {
  const dir = fixture(t, {});
  const result = await prisma(dir, ['migrate', 'diff', '--help']);
  assert.equal(result.code, 0, output(result));
  assert.ok(result.stdout.startsWith('\n🔍 Compares the database schema from two arbitrary sources, '), output(result));
  assert.equal(result.stdout.match(/^Usage$/gm)?.length, 1, `help is given once\n${output(result)}`);
  assert.ok(result.stdout.includes(`\n${USAGE}`), `the usage and options\n${output(result)}`);
  assert.match(result.stdout, /^Examples$/m, output(result));
  assert.doesNotMatch(result.stderr, /^Error:/m, output(result));
});

const COUNT_CASES: { name: string; args: string[]; reason: string }[] = [
  {
    name: 'should fail if missing --from-... and --to-...',
    args: [],
    reason: '0 `--from-...` parameter(s) provided. 1 must be provided.\n0 `--to-...` parameter(s) provided. 1 must be provided.',
  },
  { name: 'should fail if only --from-... is provided', args: ['--from-empty'], reason: '0 `--to-...` parameter(s) provided. 1 must be provided.' },
  { name: 'should fail if only --to-... is provided', args: ['--to-empty'], reason: '0 `--from-...` parameter(s) provided. 1 must be provided.' },
  {
    name: 'should fail if more than 1 --from-... is provided',
    args: ['--from-empty', '--from-config-datasource'],
    reason: '2 `--from-...` parameter(s) provided. 1 must be provided.\n0 `--to-...` parameter(s) provided. 1 must be provided.',
  },
  {
    name: 'should fail if more than 1 --to-... is provided',
    args: ['--to-empty', '--to-config-datasource'],
    reason: '0 `--from-...` parameter(s) provided. 1 must be provided.\n2 `--to-...` parameter(s) provided. 1 must be provided.',
  },
];

for (const { name, args, reason } of COUNT_CASES) {
  test(`migrate diff > generic > ${name}`, async (t) => {
    const dir = fixture(t, SCHEMA_ONLY);
    const result = await prisma(dir, ['migrate', 'diff', ...args], env());
    for (const line of reason.split('\n')) assert.match(result.stderr, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), output(result));
    assertRejected(result, helpError(reason));
  });
}

test('migrate diff > generic > should fail for empty/empty', async (t) => {
  const dir = fixture(t, SCHEMA_ONLY);
  const result = await prisma(dir, ['migrate', 'diff', '--from-empty', '--to-empty'], env());
  assert.equal(result.code, 1, output(result));
  assert.doesNotMatch(result.stderr, /^Error: P\d{4}/m, `no Prisma error code\n${output(result)}`);
  assert.match(result.stderr, /^Error: Could not determine the connector to use for diffing\.$/m, output(result));
  // The engine's message ends with "\n", the CLI adds one, console.error one more.
  assertRejected(result, 'Could not determine the connector to use for diffing.\n\n');
});

const REMOVED_FLAGS: { param: string; hint: string }[] = [
  ...['--from-url=localhost', '--to-url=localhost', '--from-schema-datasource=schema.prisma', '--to-schema-datasource=schema.prisma'].map((param) => ({
    param,
    hint: `\`${param.split('=')[0]}\` was removed. Please use \`--[from/to]-config-datasource\` in combination with a Prisma config file that contains the appropriate datasource instead.`,
  })),
  ...['--from-schema-datamodel=schema.prisma', '--to-schema-datamodel=schema.prisma'].map((param) => ({
    param,
    hint: `\`${param.split('=')[0]}\` was removed. Please use \`--[from/to]-schema\` instead.`,
  })),
  ...['--from-local-d1', '--to-local-d1'].map((param) => ({
    param,
    hint: `\`${param}\` was removed. Please use \`--[from/to]-config-datasource\` in combination with a Prisma config file that contains the appropriate datasource instead. The \`@prisma/adapter-d1\` package exposes a \`listLocalDatabases()\` helper function to help you locate your local D1 databases. You can use the paths returned from that function to construct your datasource URL(s).`,
  })),
];

for (const { param, hint } of REMOVED_FLAGS) {
  test(`migrate diff > generic > should fail with a hint when providing a ${param} parameter`, async (t) => {
    const dir = fixture(t, SCHEMA_ONLY);
    const result = await prisma(dir, ['migrate', 'diff', param], env());
    assert.ok(result.stderr.split('\n').includes(hint), `the hint, on a line of its own\n${output(result)}`);
    assertRejected(result, helpError(hint));
  });
}

// --- sqlite ----------------------------------------------------------------------------

/** No SQLite file appeared where the fixture's `file:` URLs point (diffs between files read none). */
function assertNoDatabaseCreated(dir: string, ...paths: string[]): void {
  for (const path of paths) assert.ok(!existsSync(join(dir, path)), `${path} was not created`);
}

const CREATE_BLOG_SCRIPT = '-- CreateTable\nCREATE TABLE "Blog" (\n    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,\n    "viewCount20" INTEGER NOT NULL\n);\n';

/** Diffs between a schema and the empty datamodel, each way: the schema files are read, no database is opened or created. */
const SCHEMA_DIFF_CASES: { name: string; files: Files; args: string[]; snapshot: string }[] = [
  { name: 'should diff --from-empty --to-schema=./prisma/schema.prisma', files: SCHEMA_ONLY_SQLITE, args: ['--from-empty', '--to-schema=./prisma/schema.prisma'], snapshot: '\n[+] Added tables\n  - Blog\n' },
  // The three files as one schema: both tables, in name order, the relation not mentioned.
  { name: 'should diff --from-empty --to-schema=./prisma/schema (folder)', files: SCHEMA_FOLDER_SQLITE, args: ['--from-empty', '--to-schema=./prisma/schema'], snapshot: '\n[+] Added tables\n  - Blog\n  - User\n' },
  // `id Int @id` without a default is still PRIMARY KEY AUTOINCREMENT on SQLite.
  { name: 'should diff --from-empty --to-schema=./prisma/schema.prisma --script', files: SCHEMA_ONLY_SQLITE, args: ['--from-empty', '--to-schema=./prisma/schema.prisma', '--script'], snapshot: CREATE_BLOG_SCRIPT },
  { name: 'should diff --from-schema=./prisma/schema.prisma --to-empty', files: SCHEMA_ONLY_SQLITE, args: ['--from-schema=./prisma/schema.prisma', '--to-empty'], snapshot: '\n[-] Removed tables\n  - Blog\n' },
  { name: 'should diff --from-schema=./prisma/schema (folder) --to-empty', files: SCHEMA_FOLDER_SQLITE, args: ['--from-schema=./prisma/schema', '--to-empty'], snapshot: '\n[-] Removed tables\n  - Blog\n  - User\n' },
  { name: 'should diff --from-schema=./prisma/schema.prisma --to-empty --script', files: SCHEMA_ONLY_SQLITE, args: ['--from-schema=./prisma/schema.prisma', '--to-empty', '--script'], snapshot: DROP_BLOG_SCRIPT },
];

for (const { name, files, args, snapshot } of SCHEMA_DIFF_CASES) {
  test(`migrate diff > sqlite > ${name}`, async (t) => {
    const dir = fixture(t, files);
    const result = await prisma(dir, ['migrate', 'diff', ...args]);
    assertResolved(result, snapshot);
    assertNoDatabaseCreated(dir, 'dev.db', 'prisma/dev.db');
    assertExactStdout(result, snapshot);
  });
}

/** `--output`: the script goes to the file (relative to cwd), stdout keeps only the CLI's "\n". */
async function diffToFile(t: TestContext, outputPath: string): Promise<void> {
  const dir = fixture(t, SCHEMA_ONLY_SQLITE);
  const result = await prisma(dir, ['migrate', 'diff', '--from-schema=./prisma/schema.prisma', '--to-empty', '--script', `--output=${outputPath}`]);
  assert.equal(result.code, 0, output(result));
  assert.doesNotMatch(result.stderr, /^Error:/m, output(result));
  assert.ok(existsSync(join(dir, outputPath)), `${outputPath} was written\n${output(result)}`);
  const written = readFileSync(join(dir, outputPath), 'utf8');
  assertLines(written, DROP_BLOG_SCRIPT, result);
  assert.equal(result.stdout, '\n', `nothing of the diff on stdout\n${output(result)}`);
  assertNoDatabaseCreated(dir, 'dev.db', 'prisma/dev.db');
  assert.equal(written, DROP_BLOG_SCRIPT, `${outputPath} holds exactly the script`);
}

test('migrate diff > sqlite > should diff and write to output path', async (t) => {
  await diffToFile(t, './output.sql');
});

test('migrate diff > sqlite > should diff and write to output path if directory does not exist', async (t) => {
  await diffToFile(t, './subdir/output.sql');
});

const RUNS_AS_ROOT = process.getuid?.() === 0;

test(
  'migrate diff > sqlite > should fail with EACCES/EPERM when writing to output path which is read only',
  { skip: RUNS_AS_ROOT ? 'runs as root (uid 0), which writes through a 0o444 file: the EACCES this case needs cannot happen' : false },
  async (t) => {
    const dir = fixture(t, SCHEMA_ONLY_SQLITE);
    const readonly = join(dir, 'readonly.sql');
    writeFileSync(readonly, 'test');
    chmodSync(readonly, 0o444);
    const result = await prisma(dir, ['migrate', 'diff', '--from-schema=./prisma/schema.prisma', '--to-empty', '--script', '--output=./readonly.sql']);
    assert.equal(result.code, 1, output(result));
    assert.match(result.stderr, process.platform === 'win32' ? /^Error: .*EPERM/m : /^Error: EACCES: permission denied, open '.*readonly\.sql'$/m, output(result));
    assert.equal(result.stdout, '', `the captured diff is lost\n${output(result)}`);
    assert.equal(readFileSync(readonly, 'utf8'), 'test', 'the read-only file is unchanged');
  },
);

// The config's datasource, on either side of the diff, is a SQLite file that does not exist: P1003, and it is not created.
for (const args of [
  ['--from-empty', '--to-config-datasource'],
  ['--from-config-datasource', '--to-empty'],
]) {
  test(`migrate diff > sqlite > non driver adapter > should fail ${args.join(' ')}`, async (t) => {
    const dir = fixture(t, { ...SCHEMA_ONLY_SQLITE, 'prisma.config.ts': sqliteConfig('file:doesnotexists.db') });
    const result = await prisma(dir, ['migrate', 'diff', ...args]);
    assert.equal(result.code, 1, output(result));
    assert.match(result.stderr, /^Error: P1003$/m, output(result));
    assertNoDatabaseCreated(dir, 'doesnotexists.db', 'prisma/doesnotexists.db');
    assertRejected(result, P1003_DOESNOTEXISTS);
  });
}

test('migrate diff > sqlite > non driver adapter > should fail if directory in path & sqlite file does not exist', async (t) => {
  const dir = fixture(t, { ...SCHEMA_ONLY_SQLITE, 'prisma.config.ts': sqliteConfig('file:./something/doesnotexists.db') });
  const result = await prisma(dir, ['migrate', 'diff', '--from-config-datasource', '--to-empty']);
  assert.equal(result.code, 1, output(result));
  assert.match(result.stderr, /^Error: P1003$/m, output(result));
  assertNoDatabaseCreated(dir, 'something');
  // The file's name only, without its folder; and the command logs nothing else.
  assert.match(result.stderr, /^Database `doesnotexists\.db` does not exist$/m, output(result));
  assertRejected(result, P1003_DOESNOTEXISTS);
});

const INTROSPECTION_SUMMARY = '\n[+] Added tables\n  - Post\n  - Profile\n  - User\n  - _Migration\n\n[*] Changed the `Profile` table\n  [+] Added unique index on columns (userId)\n\n[*] Changed the `User` table\n  [+] Added unique index on columns (email)\n';

test('migrate diff > sqlite > non driver adapter > should diff --from-empty --to-config-datasource', async (t) => {
  const dir = fixture(t, INTROSPECTION_SQLITE, { 'dev.db': INTROSPECTION_SQLITE_DB });
  const before = readFileSync(join(dir, 'dev.db'));
  const result = await prisma(dir, ['migrate', 'diff', '--from-empty', '--to-config-datasource']);
  // Tables by name in byte order (_Migration last), sqlite_sequence left out, the unique
  // indexes in a section per table, foreign keys not mentioned.
  assert.doesNotMatch(result.stdout, /sqlite_sequence/, output(result));
  assertResolved(result, INTROSPECTION_SUMMARY);
  assert.ok(readFileSync(join(dir, 'dev.db')).equals(before), 'dev.db is only read');
  assertExactStdout(result, INTROSPECTION_SUMMARY);
});

// file:dev.db is config/dev.db (relative to the config), an empty file is an empty database: either way round, no difference.
for (const args of [
  ['--from-empty', '--to-config-datasource'],
  ['--from-config-datasource', '--to-empty'],
]) {
  test(`migrate diff > sqlite > non driver adapter > should diff ${args.join(' ')} with nested config and schema`, async (t) => {
    const dir = fixture(t, { ...NESTED_SQLITE, 'config/dev.db': '' });
    const result = await prisma(dir, ['migrate', 'diff', '--config', 'config/prisma.config.ts', ...args]);
    assertResolved(result, 'No difference detected.\n');
    assert.ok(existsSync(join(dir, 'config', 'dev.db')), 'config/dev.db is still there');
    assertNoDatabaseCreated(dir, 'dev.db');
    assertExactStdout(result, 'No difference detected.\n');
  });
}

const INTROSPECTION_SCRIPT = `-- CreateTable
CREATE TABLE "Post" (
    "authorId" INTEGER NOT NULL,
    "content" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "published" BOOLEAN NOT NULL DEFAULT false,
    "title" TEXT NOT NULL,
    FOREIGN KEY ("authorId") REFERENCES "User" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Profile" (
    "bio" TEXT,
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "userId" INTEGER NOT NULL,
    FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "User" (
    "email" TEXT NOT NULL,
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT
);

-- CreateTable
CREATE TABLE "_Migration" (
    "revision" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "datamodel" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "applied" INTEGER NOT NULL,
    "rolled_back" INTEGER NOT NULL,
    "datamodel_steps" TEXT NOT NULL,
    "database_migration" TEXT NOT NULL,
    "errors" TEXT NOT NULL,
    "started_at" DATETIME NOT NULL,
    "finished_at" DATETIME
);

-- CreateIndex
CREATE UNIQUE INDEX "Profile.userId" ON "Profile"("userId" ASC);

-- CreateIndex
CREATE UNIQUE INDEX "User.email" ON "User"("email" ASC);
`;

test('migrate diff > sqlite > non driver adapter > should diff --from-empty --to-config-datasource --script', async (t) => {
  const dir = fixture(t, INTROSPECTION_SQLITE, { 'dev.db': INTROSPECTION_SQLITE_DB });
  const before = readFileSync(join(dir, 'dev.db'));
  const result = await prisma(dir, ['migrate', 'diff', '--from-empty', '--to-config-datasource', '--script']);
  // Columns in the database's order, DATE as DATETIME, unnamed foreign keys inline with no
  // CONSTRAINT, tables by name (_Migration last), indexes after them with their names and ASC.
  assert.doesNotMatch(result.stdout, /sqlite_sequence|CONSTRAINT/, output(result));
  assertResolved(result, INTROSPECTION_SCRIPT);
  assert.ok(readFileSync(join(dir, 'dev.db')).equals(before), 'dev.db is only read');
  assertExactStdout(result, INTROSPECTION_SCRIPT);
});

test('migrate diff > sqlite > --exit-code > should exit with code 2 when diff is not empty without --script', async (t) => {
  const dir = fixture(t, SCHEMA_ONLY_SQLITE);
  const result = await prisma(dir, ['migrate', 'diff', '--from-schema=./prisma/schema.prisma', '--to-empty', '--exit-code']);
  assert.equal(result.code, 2, output(result));
  const snapshot = '\n[-] Removed tables\n  - Blog\n';
  assertLines(result.stdout, snapshot, result);
  assert.equal(result.stderr, LOADED, `nothing logged as an error\n${output(result)}`);
  // process.exit(2) comes before the CLI's own console.log: no extra "\n".
  assertExactStdout(result, snapshot, false);
});

test('migrate diff > sqlite > --exit-code > should exit with code 2 when diff is not empty with --script', async (t) => {
  const dir = fixture(t, SCHEMA_ONLY_SQLITE);
  const result = await prisma(dir, ['migrate', 'diff', '--from-schema=./prisma/schema.prisma', '--to-empty', '--script', '--exit-code']);
  assert.equal(result.code, 2, output(result));
  assertLines(result.stdout, DROP_BLOG_SCRIPT, result);
  assert.equal(result.stderr, LOADED, `nothing logged as an error\n${output(result)}`);
  assertExactStdout(result, DROP_BLOG_SCRIPT, false);
});

// --- postgres --------------------------------------------------------------------------

async function publicTables(db: Awaited<ReturnType<typeof testDatabase>>): Promise<string[]> {
  const conn = await db.connect();
  const rows = await conn.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
  return rows.map((row) => row.table_name);
}

test('migrate diff > postgres > should diff --from-config-datasource --to-schema=./prisma/schema.prisma --script', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  const dir = fixture(t, schemaOnlyPostgresql(db.url));
  const result = await prisma(dir, ['migrate', 'diff', '--from-config-datasource', '--to-schema=./prisma/schema.prisma', '--script']);
  // A blank line before the primary key, named Blog_pkey.
  assertResolved(result, '-- CreateTable\nCREATE TABLE "Blog" (\n    "id" INTEGER NOT NULL,\n    "viewCount20" INTEGER NOT NULL,\n\n    CONSTRAINT "Blog_pkey" PRIMARY KEY ("id")\n);\n');
  assert.deepEqual(await publicTables(db), [], 'the database is only read');
  assertExactStdout(result, '-- CreateTable\nCREATE TABLE "Blog" (\n    "id" INTEGER NOT NULL,\n    "viewCount20" INTEGER NOT NULL,\n\n    CONSTRAINT "Blog_pkey" PRIMARY KEY ("id")\n);\n');
});

test('migrate diff > postgres > should exclude external tables from diff', async (t) => {
  const db = await testDatabase(t, 'postgresql');
  const dir = fixture(t, externalTablesFiles(db.url));
  const result = await prisma(dir, ['migrate', 'diff', '--from-empty', '--to-schema=./schema.prisma']);
  // User is external: nothing added, and no warning about it.
  assert.doesNotMatch(output(result), /User/, output(result));
  assertResolved(result, 'No difference detected.\n');
  assert.deepEqual(await publicTables(db), [], 'the database is untouched');
  assertExactStdout(result, 'No difference detected.\n');
});
