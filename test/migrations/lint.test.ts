/**
 * The migration linter: every rule fires on a migration that does what it names and
 * stays quiet on the safe form, on the dialect(s) it concerns; the SQL Prisma
 * generates for real schema changes fires the right rules on both dialects; `make
 * lint` selects, prints, allows and exits as documented.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import type { Provider } from '../../src/db.ts';
import { lintMigration } from '../../src/authoring/lint.ts';
import { RULES, type RuleId } from '../../src/authoring/lint-rules.ts';
import { migrate, migrationNames, output, writeMigration } from '../fixtures/kit.ts';
import { copyPrismaDir, PROVIDERS, runScript, serverUrl, tempDir, testDatabase } from '../helpers.ts';

const rulesOf = (script: string, dialect: Provider) => lintMigration({ name: '20990101000000_case', script }, dialect).map((f) => f.rule);

const REBUILD = `PRAGMA foreign_keys=OFF;
CREATE TABLE "new_User" ("id" INTEGER NOT NULL PRIMARY KEY, "name" TEXT);
INSERT INTO "new_User" ("id") SELECT "id" FROM "User";
DROP TABLE "User";
ALTER TABLE "new_User" RENAME TO "User";
CREATE UNIQUE INDEX "User_id_key" ON "User"("id");
PRAGMA foreign_keys=ON;
`;

/** rule, dialects, a migration that fires it, its safe form. */
const CASES: [RuleId, readonly Provider[], string, string][] = [
  ['drop-table', PROVIDERS, 'DROP TABLE "User";', 'CREATE TABLE "Scratch" ("id" INTEGER);\nDROP TABLE "Scratch";'],
  ['drop-column', PROVIDERS, 'ALTER TABLE "User" DROP COLUMN "nickname";', 'ALTER TABLE "User" ADD COLUMN "nickname" TEXT;'],
  ['rename', PROVIDERS, 'ALTER TABLE "User" RENAME COLUMN "name" TO "fullName";', 'ALTER TABLE "User" RENAME CONSTRAINT "a" TO "b";'],
  ['rename', ['sqlite'], 'ALTER TABLE "User" RENAME TO "Person";', REBUILD],
  ['change-type', ['postgresql'], 'ALTER TABLE "User" ALTER COLUMN "age" SET DATA TYPE BIGINT;', 'ALTER TABLE "User" ALTER COLUMN "age" SET DEFAULT 0;'],
  ['enum-change', ['postgresql'], `ALTER TYPE "Role" RENAME VALUE 'admin' TO 'owner';`, `ALTER TYPE "Role" ADD VALUE 'owner';`],
  ['enum-change', ['postgresql'], 'ALTER TYPE "Role" RENAME TO "Role_old";\nDROP TYPE "Role_old";', `CREATE TYPE "Mood" AS ENUM ('calm');`],
  ['set-not-null', ['postgresql'], 'ALTER TABLE "User" ALTER COLUMN "name" SET NOT NULL;', 'ALTER TABLE "User" ALTER COLUMN "name" DROP NOT NULL;'],
  ['not-null-without-default', PROVIDERS, 'ALTER TABLE "User" ADD COLUMN "nickname" TEXT NOT NULL;', `ALTER TABLE "User" ADD COLUMN "nickname" TEXT NOT NULL DEFAULT '';`],
  ['unique-on-existing', PROVIDERS, 'CREATE UNIQUE INDEX "User_name_key" ON "User"("name");', 'CREATE TABLE "Tag" ("name" TEXT);\nCREATE UNIQUE INDEX "Tag_name_key" ON "Tag"("name");'],
  ['unique-on-existing', ['postgresql'], 'ALTER TABLE "User" ADD CONSTRAINT "User_name_key" UNIQUE ("name");', 'ALTER TABLE "User" ADD CONSTRAINT "User_age_check" CHECK ("age" > 0) NOT VALID;'],
  ['index-not-concurrent', ['postgresql'], 'CREATE INDEX "User_name_idx" ON "User"("name");', 'CREATE INDEX CONCURRENTLY "User_name_idx" ON "User"("name");'],
  ['index-not-concurrent', ['postgresql'], 'DROP INDEX "User_name_idx";', 'DROP INDEX CONCURRENTLY "User_name_idx";'],
  ['foreign-key-not-valid', ['postgresql'], 'ALTER TABLE "Post" ADD CONSTRAINT "Post_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE;', 'ALTER TABLE "Post" ADD CONSTRAINT "Post_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") NOT VALID;'],
  ['check-not-valid', ['postgresql'], 'ALTER TABLE "User" ADD CONSTRAINT "User_age_check" CHECK ("age" > 0);', 'ALTER TABLE "User" ADD CONSTRAINT "User_age_check" CHECK ("age" > 0) NOT VALID;'],
  ['volatile-default', ['postgresql'], 'ALTER TABLE "User" ADD COLUMN "token" UUID DEFAULT gen_random_uuid();', 'ALTER TABLE "User" ADD COLUMN "seenAt" TIMESTAMP(3) DEFAULT now();'],
  ['volatile-default', ['postgresql'], 'ALTER TABLE "User" ADD COLUMN "seq" SERIAL;', 'ALTER TABLE "User" ADD COLUMN "seq" INTEGER;'],
  ['vacuum-full', ['postgresql'], 'VACUUM FULL "User";', 'VACUUM "User";'],
  ['cluster', ['postgresql'], 'CLUSTER "User" USING "User_pkey";', 'ANALYZE "User";'],
  ['lock-table', ['postgresql'], 'LOCK TABLE "User" IN ACCESS EXCLUSIVE MODE;', 'SELECT 1;'],
  ['enum-value-used', ['postgresql'], `ALTER TYPE "Role" ADD VALUE 'owner';\nUPDATE "User" SET "role" = 'owner' WHERE "id" = 1;`, `ALTER TYPE "Role" ADD VALUE 'owner';`],
  ['sqlite-table-rebuild', ['sqlite'], REBUILD, 'ALTER TABLE "User" ADD COLUMN "name" TEXT;'],
  ['update-without-where', PROVIDERS, `UPDATE "User" SET "name" = 'x';`, `UPDATE "User" SET "name" = 'x' WHERE "name" IS NULL;`],
  ['delete-without-where', PROVIDERS, 'DELETE FROM "User";', 'DELETE FROM "User" WHERE "id" = 1;'],
  ['unreadable', PROVIDERS, 'CREATE INDEX "User_name_idx";', 'CREATE TABLE "Fine" ("id" INTEGER);'],
];

describe('lint rules', () => {
  for (const [rule, dialects, firing, safe] of CASES) {
    for (const dialect of dialects) {
      test(`${rule} on ${dialect}: fires on ${JSON.stringify(firing.split('\n')[0])}, not on its safe form`, () => {
        assert.ok(rulesOf(firing, dialect).includes(rule), `${rule} expected in ${rulesOf(firing, dialect).join(', ')}`);
        assert.ok(!rulesOf(safe, dialect).includes(rule), `${rule} not expected: ${rulesOf(safe, dialect).join(', ')}`);
      });
    }
  }

  test('every rule has a case, on each of its dialects', () => {
    for (const [id, rule] of Object.entries(RULES)) {
      for (const dialect of rule.dialects) assert.ok(CASES.some(([r, d]) => r === id && d.includes(dialect)), `${id} on ${dialect} has no case`);
    }
  });

  test('a SQLite redefine is one rebuild finding: neither its DROP TABLE nor its RENAME nor its re-created unique index', () => {
    assert.deepEqual(rulesOf(REBUILD, 'sqlite'), ['sqlite-table-rebuild']);
  });

  test('a table the migration creates is new: its indexes, constraints and columns are safe', () => {
    const script = 'CREATE TABLE "Tag" ("id" SERIAL NOT NULL, "name" TEXT NOT NULL);\nCREATE UNIQUE INDEX "Tag_name_key" ON "Tag"("name");\nALTER TABLE "Tag" ADD CONSTRAINT "Tag_x_fkey" FOREIGN KEY ("id") REFERENCES "User"("id");\nALTER TABLE "Tag" ADD COLUMN "slug" TEXT NOT NULL;';
    assert.deepEqual(rulesOf(script, 'postgresql'), []);
  });

  test('a statement it cannot read is reported and the rest still checked', () => {
    assert.deepEqual(rulesOf('CREATE INDEX "broken";\nDROP TABLE "User";', 'postgresql'), ['unreadable', 'drop-table']);
  });
});

describe('make lint', () => {
  const lint = (env: NodeJS.ProcessEnv, ...args: string[]) => runScript('lint-migrations', args, { env });

  test('by default the migrations not yet applied: one line per finding, exit 1 on an error, the rebuilt table’s rows counted', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const prismaDir = copyPrismaDir(t);
    assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: prismaDir })).code, 0);
    const conn = await db.connect();
    await conn.exec(`INSERT INTO "AdminUser" ("username", "passwordHash", "createdAt", "updatedAt") VALUES ('a', 'x', 1, 1), ('b', 'x', 1, 1)`);
    const name = '20990101000000_drop_last_login';
    writeMigration(prismaDir, 'postgresql', name, 'ALTER TABLE "AdminUser" DROP COLUMN "lastLoginAt";\n');
    writeMigration(prismaDir, 'sqlite', name, REBUILD.replace(/User/g, 'AdminUser'));
    const result = await lint({ DATABASE_URL: db.url, PRISMA_DIR: prismaDir });
    assert.equal(result.code, 1, output(result));
    assert.match(result.stdout, /^Linting 1 migration not yet applied to SQLite database .*: 1 migration in both folders$/m);
    const lines = result.stdout.split('\n').filter((line) => /^(error|warning|allowed) /.test(line));
    assert.equal(lines.length, 2, result.stdout);
    assert.match(lines[0] as string, new RegExp(`^error   ${name} postgresql:1 drop-column: ALTER TABLE "AdminUser" DROP COLUMN "lastLoginAt" \\| the running release still selects this column .*; instead: remove the field from the code in one release, drop the column in a later one$`));
    assert.match(lines[1] as string, new RegExp(`^warning ${name} sqlite:2 sqlite-table-rebuild: CREATE TABLE "new_AdminUser" .* \\| SQLite copies the whole table .* \\(2 rows now\\); instead: `));
    assert.match(result.stdout, /^1 error\(s\), 1 warning\(s\)\.$/m);
  });

  test('lint:allow <rule> <reason> silences one rule and is still shown; --json; --name', async (t) => {
    const prismaDir = copyPrismaDir(t);
    const name = '20990101000000_drop_last_login';
    writeMigration(prismaDir, 'postgresql', name, '-- lint:allow drop-column the panel stopped reading it in release 41\nALTER TABLE "AdminUser" DROP COLUMN "lastLoginAt";\n');
    writeMigration(prismaDir, 'sqlite', name, 'ALTER TABLE "AdminUser" DROP COLUMN "lastLoginAt";\n');
    const result = await lint({ PRISMA_DIR: prismaDir }, '--name', name, '--json');
    assert.equal(result.code, 1, output(result)); // the SQLite file has no allow comment
    const report = JSON.parse(result.stdout) as { migrations: string[]; findings: { dialect: string; rule: string; allowed?: string }[]; failed: boolean };
    assert.deepEqual(report.migrations, [name]);
    assert.deepEqual(
      report.findings.map((f) => [f.dialect, f.rule, f.allowed]),
      [['postgresql', 'drop-column', 'the panel stopped reading it in release 41'], ['sqlite', 'drop-column', undefined]],
    );
    writeMigration(prismaDir, 'sqlite', name, '-- lint:allow drop-column the panel stopped reading it in release 41\nALTER TABLE "AdminUser" DROP COLUMN "lastLoginAt";\n');
    const allowed = await lint({ PRISMA_DIR: prismaDir }, '--name', name);
    assert.equal(allowed.code, 0, output(allowed));
    assert.match(allowed.stdout, new RegExp(`^allowed ${name} postgresql:2 drop-column: .* \\| lint:allow: the panel stopped reading it in release 41$`, 'm'));
    assert.match(allowed.stdout, /^0 error\(s\), 0 warning\(s\), 2 allowed\.$/m);
  });

  test('bad input: an unknown rule or no reason in lint:allow, an unknown migration: one line, exit 2', async (t) => {
    const prismaDir = copyPrismaDir(t);
    const name = '20990101000000_x';
    writeMigration(prismaDir, 'sqlite', name, 'SELECT 1;\n');
    writeMigration(prismaDir, 'postgresql', name, '-- lint:allow drop-collumn typo\nSELECT 1;\n');
    const unknown = await lint({ PRISMA_DIR: prismaDir }, '--all');
    assert.equal(unknown.code, 2, output(unknown));
    assert.match(unknown.stderr, new RegExp(`^Error: ${name}: lint:allow names an unknown rule "drop-collumn"; the rules are: drop-table, `, 'm'));
    writeMigration(prismaDir, 'postgresql', name, '-- lint:allow drop-column\nSELECT 1;\n');
    const reasonless = await lint({ PRISMA_DIR: prismaDir }, '--all');
    assert.equal(reasonless.code, 2, output(reasonless));
    assert.match(reasonless.stderr, /lint:allow drop-column needs a reason after the rule/);
    const missing = await lint({ PRISMA_DIR: prismaDir }, '--name', '20990101000000_nope');
    assert.equal(missing.code, 2, output(missing));
    assert.match(missing.stderr, /^Error: Migration 20990101000000_nope is in neither folder; the newest is 20990101000000_x$/m);
  });

  test('the project’s own history has no error-level finding', async () => {
    const result = await lint({}, '--all', '--json');
    assert.equal(result.code, 0, output(result));
    assert.equal((JSON.parse(result.stdout) as { failed: boolean }).failed, false);
  });
});

/** `make migrate --create-only` on a copy of prisma/ after one schema edit: the new migration's lint findings per dialect. */
async function generatedFindings(t: TestContext, edit: (schema: string) => string): Promise<Record<Provider, string[]>> {
  const prismaDir = copyPrismaDir(t);
  const schemaFile = join(prismaDir, 'schema.prisma');
  writeFileSync(schemaFile, edit(readFileSync(schemaFile, 'utf8')));
  const before = migrationNames(prismaDir, 'sqlite');
  const env = { PRISMA_DIR: prismaDir, SHADOW_DATABASE_URL: serverUrl() };
  const created = await migrate(`file:${join(tempDir(t), 'dev.db')}`, ['create', '--name', 'change', '--create-only', '--allow-breaking'], env);
  assert.equal(created.code, 0, output(created));
  const [name] = migrationNames(prismaDir, 'sqlite').filter((n) => !before.includes(n));
  const result = await runScript('lint-migrations', ['--name', name as string, '--json'], { env });
  const report = JSON.parse(result.stdout) as { findings: { dialect: Provider; rule: string }[] };
  return Object.fromEntries(PROVIDERS.map((p) => [p, report.findings.filter((f) => f.dialect === p).map((f) => f.rule)])) as Record<Provider, string[]>;
}

test('make check lists the lint findings of pending migrations: a warning leaves the item passing, an error fails it', async (t) => {
  const db = await testDatabase(t, 'sqlite');
  const prismaDir = copyPrismaDir(t);
  assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: prismaDir })).code, 0);
  const name = '20990101000000_pending';
  const lintItem = async (sql: string) => {
    for (const provider of PROVIDERS) writeMigration(prismaDir, provider, name, sql);
    const result = await runScript('check-production-migrations', ['--json'], { env: { DATABASE_URL: db.url, PRISMA_DIR: prismaDir } });
    return (JSON.parse(result.stdout) as { checks: { id: string; ok: boolean; detail: string }[] }).checks.find((c) => c.id === 'lint');
  };
  const warned = await lintItem(`UPDATE "AdminUser" SET "passwordHash" = 'x';\n`);
  assert.equal(warned?.ok, true);
  assert.match(warned?.detail ?? '', new RegExp(`^warning ${name}:1 update-without-where: UPDATE "AdminUser"`, 'm'));
  const failed = await lintItem('DROP TABLE "Pack";\n');
  assert.equal(failed?.ok, false);
  assert.match(failed?.detail ?? '', new RegExp(`^error ${name}:1 drop-table: DROP TABLE "Pack"$`, 'm'));
});

test('make migrate refuses a breaking change without ALLOW_BREAKING: the findings and the expand/contract steps, nothing written', async (t) => {
  const prismaDir = copyPrismaDir(t);
  const schemaFile = join(prismaDir, 'schema.prisma');
  writeFileSync(schemaFile, readFileSync(schemaFile, 'utf8').replace(/\n\s+lastLoginAt\s+BigInt\?/, ''));
  const before = PROVIDERS.map((p) => migrationNames(prismaDir, p));
  const result = await migrate(`file:${join(tempDir(t), 'dev.db')}`, ['create', '--name', 'drop_last_login'], { PRISMA_DIR: prismaDir, SHADOW_DATABASE_URL: serverUrl() });
  assert.equal(result.code, 2, output(result));
  assert.match(result.stderr, /^Error: This change breaks the release still running during a deploy:$/m);
  assert.match(result.stderr, /^  • postgresql: drop-column: ALTER TABLE "AdminUser" DROP COLUMN "lastLoginAt" \(the running release still selects this column/m);
  assert.match(result.stderr, /^  drop-column: remove the field from the code in one release, drop the column in a later one$/m);
  assert.match(result.stderr, /run again with --allow-breaking \(make migrate NAME=drop_last_login ALLOW_BREAKING=1\)/);
  assert.deepEqual(PROVIDERS.map((p) => migrationNames(prismaDir, p)), before, 'nothing written');
});

describe('the SQL Prisma generates for real schema changes', { concurrency: 2 }, () => {
  test('drop a field: drop-column on PostgreSQL, a rebuild on SQLite', async (t) => {
    const found = await generatedFindings(t, (s) => s.replace(/\n\s+lastLoginAt\s+BigInt\?/, ''));
    assert.ok(found.postgresql.includes('drop-column'), found.postgresql.join(', '));
    assert.ok(found.sqlite.includes('sqlite-table-rebuild') || found.sqlite.includes('drop-column'), found.sqlite.join(', '));
  });

  test('rename a model: drop-table on both', async (t) => {
    const found = await generatedFindings(t, (s) => s.replace(/\bAdminUser\b/g, 'Administrator')); // the model and the relations to it
    assert.ok(found.postgresql.includes('drop-table'), found.postgresql.join(', '));
    assert.ok(found.sqlite.includes('drop-table'), found.sqlite.join(', '));
  });

  test('add a required field: not-null-without-default on PostgreSQL, a rebuild on SQLite', async (t) => {
    const found = await generatedFindings(t, (s) => s.replace(/(\n\s+passwordHash\s+String)/, '$1\n  nickname     String'));
    assert.ok(found.postgresql.includes('not-null-without-default'), found.postgresql.join(', '));
    assert.ok(found.sqlite.includes('sqlite-table-rebuild') || found.sqlite.includes('not-null-without-default'), found.sqlite.join(', '));
  });

  test('add @unique: unique-on-existing on both, index-not-concurrent on PostgreSQL', async (t) => {
    const found = await generatedFindings(t, (s) => s.replace(/(\n\s+passwordHash\s+String)/, '$1 @unique'));
    for (const provider of PROVIDERS) assert.ok(found[provider].includes('unique-on-existing'), `${provider}: ${found[provider].join(', ')}`);
    assert.ok(found.postgresql.includes('index-not-concurrent'));
  });

  test('add @@index: index-not-concurrent on PostgreSQL, nothing on SQLite', async (t) => {
    const found = await generatedFindings(t, (s) => s.replace(/(\n\s+updatedAt\s+BigInt\n)\}/, '$1\n  @@index([createdAt])\n}'));
    assert.deepEqual(found.postgresql, ['index-not-concurrent']);
    assert.deepEqual(found.sqlite, []);
  });
});
