/**
 * Prisma's `DbPush.test.ts` (packages/migrate/src/__tests__, 7.x) as the kit's contract:
 * every kept case (MongoDB's are not the kit's), run with the real CLI in a fresh fixture
 * folder.
 *
 * Prisma's tests run with CI=true and no agent markers (the harness does the same); the
 * prompt cases inject their answer, here typed into a pseudo-terminal (util-linux
 * `script`) with CI unset. Stdout is compared as Prisma's snapshots normalize it: no
 * colours, no rocket, `Done in XXXms`, and the `SQLite database … created at …` line of a
 * missing file removed.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import { openConnection, parseDatabaseUrl, withDatabase, type DatabaseTarget } from '../../src/db.ts';
import { serverUrl, testDatabase, type RunResult, type TestDatabase } from '../helpers.ts';
import { config, configWith, DB_BLOG_WITH_A_ROW, DB_RESET, externalTablesFiles, F_EXISTING_DB_WARNINGS, F_NESTED, F_NO_CONFIG, HISTORY_TABLE_WITH_SCRIPT_SQL, POSTGRES_BLOG_SCHEMA, resetFiles, SQLITE_DATASOURCE, SQLITE_LOCK } from './fixtures.ts';
import { datasourceUrlRequired, fixture, NO_SCHEMA_FOUND, output, prisma, prismaInTerminal, readSqlite, sqliteLine, sqliteRows, sqliteTables, stderrAfterConfigLine, TERMINAL_AVAILABLE, type Files } from './harness.ts';

// ---------------------------------------------------------------------------
// Fixtures only these cases use (packages/migrate/src/__tests__/fixtures; the shared ones are in fixtures.ts), binary databases rebuilt from SQL

/** F-nativeTypes-sqlite: VarChar on SQLite (line 11). */
const NATIVE_TYPES_SQLITE: Files = {
  'prisma.config.ts': config('file:./dev.db'),
  'prisma/schema.prisma': `datasource db {
  provider = "sqlite"
}

generator client {
  provider = "prisma-client-js"
}

model Cat {
  id   Int    @id
  name String @db.VarChar(100)
}

model Dog {
  id           Int  @id
  bestFriendId Int?
}
`,
};

/** F-existing-db-1-unexecutable-schema-change: `fullname` made required, one row holds NULL. */
const UNEXECUTABLE_MIGRATION = `-- CreateTable
CREATE TABLE "Blog" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "fullname" TEXT
);
`;

const UNEXECUTABLE_FIXTURE: Files = {
  'prisma.config.ts': config('file:dev.db'),
  'prisma/schema.prisma': `${SQLITE_DATASOURCE}
model Blog {
  id       Int    @id
  fullname String
}
`,
  'prisma/migrations/20201126142527_init/migration.sql': UNEXECUTABLE_MIGRATION,
  'prisma/migrations/migration_lock.toml': SQLITE_LOCK,
};

const UNEXECUTABLE_DB = `${HISTORY_TABLE_WITH_SCRIPT_SQL}INSERT INTO "_prisma_migrations" VALUES ('12caba36-f380-4b4a-a692-8d488540f825', 'd7ea899129f38d992b9e1e44baf1976bb1ec4b9421bbb2dfd133ca88ddcd8668', 1606400727582, '20201126142527_init', '${UNEXECUTABLE_MIGRATION}', NULL, 1606400727580, 1, '${UNEXECUTABLE_MIGRATION}');
CREATE TABLE "Blog" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "fullname" TEXT
);
INSERT INTO "Blog" VALUES (1, 'name');
INSERT INTO "Blog" VALUES (2, NULL);
`;

/** F-pg-setup (introspection/postgresql/setup.sql): what the `postgres` describe starts from. */
const PG_SETUP_SQL = `DROP TYPE IF EXISTS "Role";
CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
DROP TABLE IF EXISTS "public"."Post" CASCADE;
CREATE TABLE "public"."Post" (
    "id" text NOT NULL,
    "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" timestamp(3) NOT NULL DEFAULT '1970-01-01 00:00:00'::timestamp without time zone,
    "published" boolean NOT NULL DEFAULT false,
    "title" text NOT NULL,
    "content" text,
    "authorId" text,
    "jsonData" jsonb,
    "coinflips" _bool,
    PRIMARY KEY ("id")
);
DROP TABLE IF EXISTS "public"."User" CASCADE;
CREATE TABLE "public"."User" (
    "id" text,
    "email" text NOT NULL,
    "name" text,
    PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "User.email" ON "public"."User"("email");
ALTER TABLE "public"."Post"
ADD FOREIGN KEY ("authorId") REFERENCES "public"."User"("id") ON DELETE
SET NULL ON UPDATE CASCADE;
INSERT INTO "public"."User" (email, id, name)
VALUES (
        'a@a.de',
        '576eddf9-2434-421f-9a86-58bede16fd95',
        'Alice'
    );
`;

/** F-pg-multischema's setup.sql. */
const PG_MULTISCHEMA_SQL = `CREATE SCHEMA IF NOT EXISTS "base";
CREATE SCHEMA IF NOT EXISTS "transactional";
CREATE TABLE "base"."User" (
    "id" TEXT NOT NULL,
    "email" TEXT NOT NULL,

    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);
CREATE TABLE "transactional"."Post" (
    "id" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "authorId" TEXT NOT NULL,

    CONSTRAINT "Post_pkey" PRIMARY KEY ("id")
);
ALTER TABLE "transactional"."Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "base"."User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
CREATE TYPE "base"."status" as enum ('ON','OFF');
CREATE TABLE "base"."some_table" (
    "id" TEXT NOT NULL,
    "email" TEXT NOT NULL,

    CONSTRAINT "User_pkey2" PRIMARY KEY ("id")
);
CREATE TABLE "transactional"."some_table" (
    "id" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "authorId" TEXT NOT NULL,

    CONSTRAINT "Post_pkey2" PRIMARY KEY ("id")
);
ALTER TABLE "transactional"."some_table" ADD CONSTRAINT "Post_authorId_fkey2" FOREIGN KEY ("authorId") REFERENCES "base"."some_table"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
CREATE TYPE "transactional"."status" as enum ('ON','OFF');
`;

// ---------------------------------------------------------------------------
// Reading what was printed and what the database holds

/** Stdout as Prisma's snapshots show it (stdoutNormalizationRules and the serializer). */
function normalized(stdout: string): string {
  return stripVTControlCharacters(stdout)
    .replace(/\r\n/g, '\n')
    .replace(/🚀 {2}/g, '')
    .replace(/\nSQLite database .* created at .*\n/, '')
    .replace(/Done in [\d.]+m?s/g, 'Done in XXXms')
    .trimEnd();
}

const IN_SYNC = 'Your database is now in sync with your Prisma schema. Done in XXXms';

const WARNING_BLOCK = '⚠️  There might be data loss when applying the changes:\n\n  • You are about to drop the `Blog` table, which is not empty (1 rows).';

/** The user's tables of a SQLite file: SQLite's own left out. */
const userTables = (file: string) => sqliteTables(file).filter((name) => !name.startsWith('sqlite_'));
const sqliteColumns = (file: string, table: string) => readSqlite(file, (db) => (db.prepare(`PRAGMA table_info("${table}")`).all() as { name: string; notnull: number }[]).map((c) => `${c.name}${c.notnull ? ' NOT NULL' : ''}`));

/** existing-db-warnings untouched: Blog with its row, no Post. */
function assertWarningsDbUnchanged(dir: string): void {
  assert.deepEqual(userTables(join(dir, 'dev.db')), ['Blog'], 'no table created or dropped');
  assert.deepEqual(sqliteRows(join(dir, 'dev.db'), 'Blog'), [{ id: 1, viewCount20: 2222 }], 'the row is still there');
}

/** Where a PostgreSQL URL points, as Prisma prints it (`host:port`). */
function location(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '5432'}`;
}

async function pgRelations(db: TestDatabase, schemas: string[]): Promise<string[]> {
  const conn = await db.connect();
  const list = schemas.map((s) => `'${s}'`).join(', ');
  const tables = await conn.query<{ name: string }>(`SELECT table_schema || '.' || table_name AS name FROM information_schema.tables WHERE table_schema IN (${list}) ORDER BY 1`);
  const types = await conn.query<{ name: string }>(`SELECT n.nspname || '.' || t.typname || ' (enum)' AS name FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype = 'e' AND n.nspname IN (${list}) ORDER BY 1`);
  return [...tables, ...types].map((row) => row.name);
}

// ---------------------------------------------------------------------------
// Prompts: the real CLI in a pseudo-terminal, CI unset, the answer typed when the question shows

const NO_TERMINAL = 'needs a pseudo-terminal for the confirmation prompt, and util-linux `script` is not installed';
const QUESTION = 'Do you want to ignore the warning(s)?';

/** `prisma db push` typed by a user who gives `answer` at the data-loss confirmation; `stdout` is what the terminal showed. */
function pushInTerminal(cwd: string, answer: string, env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return prismaInTerminal(cwd, ['db', 'push'], { question: QUESTION, answer }, env);
}

/** The pieces appear in this order in `text`. */
function assertInOrder(text: string, pieces: string[], message: string): void {
  let at = 0;
  for (const piece of pieces) {
    const found = text.indexOf(piece, at);
    assert.ok(found >= 0, `expected, in order: ${JSON.stringify(piece)}\n${message}`);
    at = found + piece.length;
  }
}

/**
 * existing-db-warnings pushed from a terminal whose user cancels the data-loss confirmation
 * with `answer`: exit 130, the datasource, the warning and the question before "Push
 * cancelled.", and the database untouched.
 */
async function assertPushCancelledBy(t: TestContext, answer: string): Promise<void> {
  const dir = fixture(t, F_EXISTING_DB_WARNINGS, { 'dev.db': DB_BLOG_WITH_A_ROW });
  const result = await pushInTerminal(dir, answer);
  assert.equal(result.code, 130, output(result));
  const text = normalized(result.stdout);
  assertInOrder(text, [`${sqliteLine('my_db')}\n\n`, `${WARNING_BLOCK}\n\n\n\n`, QUESTION, 'Push cancelled.'], output(result));
  assert.doesNotMatch(text, /now in sync/, output(result));
  assertWarningsDbUnchanged(dir);
}

/** pgvector on the test server: CREATE EXTENSION vector cannot work without it. */
const PGVECTOR = await (async () => {
  try {
    const conn = await openConnection(parseDatabaseUrl(serverUrl()));
    try {
      return (await conn.query("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")).length > 0;
    } finally {
      await conn.close();
    }
  } catch {
    return false;
  }
})();

// ---------------------------------------------------------------------------
// push

test('push › prisma.config.ts › should require a datasource in the config', async (t) => {
  const dir = fixture(t, F_NO_CONFIG);
  const result = await prisma(dir, ['db', 'push']);
  assert.equal(result.code, 1, output(result));
  assert.equal(stderrAfterConfigLine(result.stderr), `Prisma schema loaded from schema.prisma.\nError: ${datasourceUrlRequired('db push')}\n`, output(result));
  assert.equal(result.stdout, '', output(result));
});

test('push › should fail if no schema file', async (t) => {
  const dir = fixture(t, {});
  const result = await prisma(dir, ['db', 'push']);
  assert.equal(result.code, 1, output(result));
  assert.ok(stderrAfterConfigLine(result.stderr).includes(`Error: ${NO_SCHEMA_FOUND}`), output(result));
  assert.doesNotMatch(result.stderr, /datasource/, 'the schema lookup comes first');
});

test('push › should fail if nativeTypes VarChar on sqlite', async (t) => {
  const dir = fixture(t, NATIVE_TYPES_SQLITE);
  const result = await prisma(dir, ['db', 'push']);
  assert.equal(result.code, 1, output(result));
  // Prisma's code frame, line by line (the trailing space of its `   | ` lines is layout, not compared).
  const message = 'P1012\n\nerror: Native type VarChar is not supported for sqlite connector.\n  -->  prisma/schema.prisma:11\n   |\n10 |   id   Int    @id\n11 |   name String @db.VarChar(100)\n   |\n';
  assert.ok(stderrAfterConfigLine(result.stderr).replace(/[ \t]+$/gm, '').includes(`Error: ${message}`), output(result));
  assert.match(normalized(result.stdout), /^Datasource "db": SQLite database "dev\.db" at "file:\.\/dev\.db"$/m, output(result));
  assert.ok(existsSync(join(dir, 'dev.db')), 'ensureDatabaseExists created dev.db next to the config');
  assert.deepEqual(userTables(join(dir, 'dev.db')), [], 'nothing pushed');
  assert.ok(!existsSync(join(dir, 'prisma', 'dev.db')), 'not next to the schema');
});

test('push › already in sync', async (t) => {
  const dir = fixture(t, resetFiles(), { 'dev.db': DB_RESET });
  const result = await prisma(dir, ['db', 'push']);
  assert.equal(result.code, 0, output(result));
  assert.equal(normalized(result.stdout), [sqliteLine('my_db'), '', IN_SYNC].join('\n'), output(result));
  assert.doesNotMatch(result.stdout, /created at/, 'dev.db existed');
  assert.deepEqual(sqliteColumns(join(dir, 'dev.db'), 'Blog'), ['id NOT NULL', 'viewCount20 NOT NULL'], output(result));
  assert.ok(!existsSync(join(dir, 'prisma', 'dev.db')), 'the root dev.db, not one next to the schema');
});

test('push › should work with nested config and schema', async (t) => {
  const dir = fixture(t, F_NESTED);
  const result = await prisma(dir, ['db', 'push', '--config', 'config/prisma.config.ts']);
  assert.equal(result.code, 0, output(result));
  assert.equal(normalized(result.stdout), [sqliteLine('db'), '', IN_SYNC].join('\n'), output(result));
  assert.match(stderrAfterConfigLine(result.stderr), /^Prisma schema loaded from config\/schema\.prisma\.$/m, output(result));
  assert.deepEqual(sqliteColumns(join(dir, 'config', 'dev.db'), 'User'), ['id NOT NULL', 'name NOT NULL'], 'config/dev.db, next to the config');
  assert.ok(!existsSync(join(dir, 'dev.db')), 'no dev.db at the working directory');
});

test('push › should load extensions from the config', { skip: PGVECTOR ? false : 'the test server has no pgvector' }, async (t) => {
  const server = parseDatabaseUrl(serverUrl()) as DatabaseTarget & { provider: 'postgresql' };
  const name = `rastar_test_ext_${process.pid}_${Date.now().toString(36)}`;
  const target = withDatabase(server, name);
  t.after(async () => {
    const conn = await openConnection(server);
    await conn.exec(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await conn.close();
  });
  const dir = fixture(t, {
    'prisma.config.ts': configWith(target.url, {
      experimental: { extensions: true },
      extensions: [{ types: [{ prismaName: 'Vector3', dbName: 'vector', dbTypeModifiers: ['3'], numberOfDbTypeModifiers: 1 }] }],
    }),
    'schema.prisma': `generator client {
  provider = "prisma-client-js"
  previewFeatures = ["postgresqlExtensions"]
}

datasource db {
  provider = "postgres"
  extensions = [vector]
}

model User {
  id       Int @id @default(autoincrement())
  name     String
  position Vector3
}
`,
  });
  const result = await prisma(dir, ['db', 'push', '--force-reset']);
  assert.equal(result.code, 0, output(result));
  const at = location(target.url);
  assert.equal(
    normalized(result.stdout),
    [`Datasource "db": PostgreSQL database "${name}" at "${at}"`, '', `PostgreSQL database ${name} created at ${at}`, '', `The PostgreSQL database "${name}" at "${at}" was successfully reset.`, '', IN_SYNC].join('\n'),
    output(result),
  );
  const conn = await openConnection(target);
  try {
    assert.equal((await conn.query("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).length, 1, 'the vector extension');
    assert.deepEqual(await conn.query<{ type: string }>("SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = '\"User\"'::regclass AND attname = 'position'"), [{ type: 'vector(3)' }]);
  } finally {
    await conn.close();
  }
});

test('push › should ask for --accept-data-loss if not provided in CI', async (t) => {
  const dir = fixture(t, F_EXISTING_DB_WARNINGS, { 'dev.db': DB_BLOG_WITH_A_ROW });
  const result = await prisma(dir, ['db', 'push'], { GITHUB_ACTIONS: '1' });
  assert.equal(result.code, 1, output(result));
  assert.match(stderrAfterConfigLine(result.stderr), /^Error: Use the --accept-data-loss flag to ignore the data loss warnings like prisma db push --accept-data-loss$/m, output(result));
  assert.ok(normalized(result.stdout).includes(WARNING_BLOCK), `the warning names what would be lost\n${output(result)}`);
  assertWarningsDbUnchanged(dir);
});

test('push › dataloss warnings accepted (prompt)', { skip: TERMINAL_AVAILABLE ? false : NO_TERMINAL }, async (t) => {
  const dir = fixture(t, F_EXISTING_DB_WARNINGS, { 'dev.db': DB_BLOG_WITH_A_ROW });
  const result = await pushInTerminal(dir, 'y');
  assert.equal(result.code, 0, output(result));
  const text = normalized(result.stdout);
  // Before the prompt: the datasource, the warning, then (the prompt rendered between) the final line.
  assertInOrder(text, [`${sqliteLine('my_db')}\n\n`, `${WARNING_BLOCK}\n\n\n\n`, QUESTION, '\nYour database is now in sync with your Prisma schema. Done in XXXms'], output(result));
  assert.doesNotMatch(text, /Push cancelled/, output(result));
  assert.deepEqual(userTables(join(dir, 'dev.db')), ['Post'], 'Blog dropped, Post created');
});

test('push › dataloss warnings cancelled (prompt)', { skip: TERMINAL_AVAILABLE ? false : NO_TERMINAL }, async (t) => {
  await assertPushCancelledBy(t, '\x03'); // Ctrl-C: the prompt aborted
});

test('push › --accept-data-loss flag', async (t) => {
  const dir = fixture(t, F_EXISTING_DB_WARNINGS, { 'dev.db': DB_BLOG_WITH_A_ROW });
  const result = await prisma(dir, ['db', 'push', '--accept-data-loss']);
  assert.equal(result.code, 0, output(result));
  assert.equal(normalized(result.stdout), [sqliteLine('my_db'), '', WARNING_BLOCK, '', '', '', IN_SYNC].join('\n'), output(result));
  assert.deepEqual(userTables(join(dir, 'dev.db')), ['Post'], 'Blog dropped, Post created');
});

for (const flag of ['--accept-data-loss', '--force-reset']) {
  test(`push › ${flag} triggers the AI safety checkpoint`, async (t) => {
    const dir = fixture(t, F_EXISTING_DB_WARNINGS, { 'dev.db': DB_BLOG_WITH_A_ROW });
    const result = await prisma(dir, ['db', 'push', flag], { CLAUDECODE: '1' });
    assert.equal(result.code, 1, output(result));
    assert.ok(stderrAfterConfigLine(result.stderr).includes('invoked by Claude Code'), output(result));
    assert.doesNotMatch(result.stdout, /now in sync|successfully reset/, output(result));
    assertWarningsDbUnchanged(dir);
  });
}

test('push › interactive confirmation triggers the AI safety checkpoint', { skip: TERMINAL_AVAILABLE ? false : NO_TERMINAL }, async (t) => {
  const dir = fixture(t, F_EXISTING_DB_WARNINGS, { 'dev.db': DB_BLOG_WITH_A_ROW });
  const result = await pushInTerminal(dir, 'y', { CLAUDECODE: '1' });
  assert.equal(result.code, 1, output(result));
  const text = normalized(result.stdout);
  assertInOrder(text, [WARNING_BLOCK, QUESTION, 'invoked by Claude Code'], output(result));
  assert.doesNotMatch(text, /now in sync/, output(result));
  assertWarningsDbUnchanged(dir);
});

test('push › unexecutable - drop allowed (--force-reset)', async (t) => {
  const dir = fixture(t, UNEXECUTABLE_FIXTURE, { 'dev.db': UNEXECUTABLE_DB });
  const before = statSync(join(dir, 'dev.db')).size;
  const result = await prisma(dir, ['db', 'push', '--force-reset']);
  assert.equal(result.code, 0, output(result));
  assert.equal(
    normalized(result.stdout),
    [sqliteLine('my_db'), '', 'The SQLite database "dev.db" at "file:dev.db" was successfully reset.', '', IN_SYNC].join('\n'),
    output(result),
  );
  const after = statSync(join(dir, 'dev.db')).size;
  assert.ok(before > 10_000, `dev.db before: ${before} bytes`);
  assert.ok(after > 10_000, `dev.db after: ${after} bytes, more than 10 000`);
  assert.ok(after < before, `dev.db after: ${after} bytes, less than the ${before} before`);
  assert.deepEqual(sqliteColumns(join(dir, 'dev.db'), 'Blog'), ['id NOT NULL', 'fullname NOT NULL'], 'Blog as the schema says');
  assert.deepEqual(sqliteRows(join(dir, 'dev.db'), 'Blog'), [], 'the data dropped');
});

test('push › unexecutable - drop refused', { skip: TERMINAL_AVAILABLE ? false : NO_TERMINAL }, async (t) => {
  // Prisma's case runs on existing-db-warnings (not the unexecutable fixture), the prompt cancelled.
  await assertPushCancelledBy(t, 'n');
});

test('push › unexecutable - should ask for --force-reset in CI', async (t) => {
  const dir = fixture(t, UNEXECUTABLE_FIXTURE, { 'dev.db': UNEXECUTABLE_DB });
  const result = await prisma(dir, ['db', 'push'], { GITHUB_ACTIONS: '1' });
  assert.equal(result.code, 1, output(result));
  const message = '\n⚠️ We found changes that cannot be executed:\n\n  • Made the column `fullname` on table `Blog` required, but there are 1 existing NULL values.\n\nYou may use the --force-reset flag to drop the database before push like prisma db push --force-reset\nAll data will be lost.\n';
  assert.ok(stderrAfterConfigLine(result.stderr).includes(`Error: ${message}`), output(result));
  assert.equal(normalized(result.stdout), sqliteLine('my_db'), output(result));
  assert.deepEqual(sqliteRows(join(dir, 'dev.db'), 'Blog'), [{ id: 1, fullname: 'name' }, { id: 2, fullname: null }], 'unchanged');
  assert.deepEqual(sqliteColumns(join(dir, 'dev.db'), 'Blog'), ['id NOT NULL', 'fullname'], 'unchanged');
});

test('push › --url overrides config datasource URL when datasource exists in config', async (t) => {
  const dir = fixture(t, resetFiles('file:./other.db'), { 'dev.db': DB_RESET });
  const result = await prisma(dir, ['db', 'push', '--url=file:./dev.db']);
  assert.equal(result.code, 0, output(result));
  assert.equal(normalized(result.stdout), [sqliteLine('my_db', 'file:./dev.db'), '', IN_SYNC].join('\n'), output(result));
  assert.ok(!existsSync(join(dir, 'other.db')), 'the config’s other.db is never created');
  assert.deepEqual(sqliteColumns(join(dir, 'dev.db'), 'Blog'), ['id NOT NULL', 'viewCount20 NOT NULL']);
});

test('push › --url works when no datasource exists in config', async (t) => {
  const dir = fixture(t, resetFiles('file:dev.db'), { 'dev.db': DB_RESET });
  const result = await prisma(dir, ['db', 'push', '--url=file:./dev.db']);
  assert.equal(result.code, 0, output(result));
  assert.equal(normalized(result.stdout), [sqliteLine('my_db', 'file:./dev.db'), '', IN_SYNC].join('\n'), output(result));
  assert.deepEqual(sqliteColumns(join(dir, 'dev.db'), 'Blog'), ['id NOT NULL', 'viewCount20 NOT NULL']);
});

// ---------------------------------------------------------------------------
// postgres: a fresh database holding F-pg-setup (enum Role, Post, User with Alice)

/** A fresh PostgreSQL database holding `sql`, and its name as the CLI prints it. */
async function pgSetup(t: Parameters<typeof testDatabase>[0], sql: string): Promise<{ db: TestDatabase; name: string }> {
  const db = await testDatabase(t, 'postgresql');
  const conn = await db.connect();
  await conn.exec(sql);
  return { db, name: db.target.provider === 'postgresql' ? db.target.config.database : '' };
}

test('postgres › --force-reset should succeed and display a log', async (t) => {
  const { db, name } = await pgSetup(t, PG_SETUP_SQL);
  const dir = fixture(t, { 'prisma.config.ts': config(db.url), 'prisma/schema.prisma': POSTGRES_BLOG_SCHEMA });
  const result = await prisma(dir, ['db', 'push', '--force-reset']);
  assert.equal(result.code, 0, output(result));
  assert.equal(stderrAfterConfigLine(result.stderr), 'Prisma schema loaded from prisma/schema.prisma.\n', output(result));
  const at = location(db.url);
  assert.equal(
    normalized(result.stdout),
    [`Datasource "my_db": PostgreSQL database "${name}", schema "public" at "${at}"`, '', `The PostgreSQL database "${name}" schema "public" at "${at}" was successfully reset.`, '', IN_SYNC].join('\n'),
    output(result),
  );
  assert.deepEqual(await pgRelations(db, ['public']), ['public.Blog'], 'only Blog: Role, Post and User are gone');
});

test('postgres › should exclude external tables', async (t) => {
  const { db, name } = await pgSetup(t, PG_SETUP_SQL);
  const dir = fixture(t, externalTablesFiles(db.url));
  const result = await prisma(dir, ['db', 'push']);
  assert.equal(result.code, 0, output(result));
  // No data-loss warning about User, though it differs from the schema's: it is external.
  assert.equal(
    normalized(result.stdout),
    [`Datasource "db": PostgreSQL database "${name}", schema "public" at "${location(db.url)}"`, '', IN_SYNC].join('\n'),
    output(result),
  );
  const conn = await db.connect();
  assert.deepEqual(await conn.query('SELECT id, email, name FROM "User"'), [{ id: '576eddf9-2434-421f-9a86-58bede16fd95', email: 'a@a.de', name: 'Alice' }], 'User untouched, its row kept');
  assert.deepEqual(
    (await conn.query<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'User' ORDER BY ordinal_position")).map((c) => c.column_name),
    ['id', 'email', 'name'],
    'User keeps its own columns',
  );
  assert.ok(!(await pgRelations(db, ['public'])).includes('public.Post'), 'Post, not in the schema, dropped');
});

test('postgres-multischema › multiSchema: --force-reset should succeed and display a log', async (t) => {
  const { db, name } = await pgSetup(t, PG_MULTISCHEMA_SQL);
  const dir = fixture(t, {
    'prisma.config.ts': config(db.url),
    'schema.prisma': `datasource db {
  provider = "postgres"
  schemas  = ["base", "transactional"]
}

generator client {
  provider = "prisma-client-js"
}
`,
  });
  const result = await prisma(dir, ['db', 'push', '--force-reset']);
  assert.equal(result.code, 0, output(result));
  const at = location(db.url);
  assert.equal(
    normalized(result.stdout),
    [`Datasource "db": PostgreSQL database "${name}", schemas "base, transactional" at "${at}"`, '', `The PostgreSQL database "${name}" schemas "base, transactional" at "${at}" were successfully reset.`, '', IN_SYNC].join('\n'),
    output(result),
  );
  assert.deepEqual(await pgRelations(db, ['base', 'transactional']), [], 'the tables and enums of base and transactional are gone');
});
