/**
 * The migration linter: every rule fires on a migration that does what it names and
 * stays quiet on the safe form, on the dialect(s) it concerns; the SQL Prisma
 * generates for real schema changes fires the right rules on both dialects; `make
 * lint` selects, prints, allows and exits as documented.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { projectRoot, type Provider } from '../../src/db.ts';
import { lintFolder, lintMigration } from '../../src/authoring/lint.ts';
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
  ['truncate', ['postgresql'], 'TRUNCATE "User" CASCADE;', 'DELETE FROM "User" WHERE "id" = 1;'],
  ['drop-schema', ['postgresql'], 'DROP SCHEMA "archive" CASCADE;', 'CREATE SCHEMA "archive";'],
  ['drop-view', PROVIDERS, 'DROP VIEW "UserStats";', 'DROP VIEW IF EXISTS "UserStats";\nCREATE VIEW "UserStats" AS SELECT 1 AS "n";'],
  ['set-schema', ['postgresql'], 'ALTER TABLE "User" SET SCHEMA "archive";', 'ALTER TABLE "User" ENABLE ROW LEVEL SECURITY;'],
  ['set-schema', ['postgresql'], 'ALTER TYPE "Role" SET SCHEMA "archive";', `ALTER TYPE "Role" ADD VALUE 'owner';`],
  ['lock-timeout-off', ['postgresql'], 'SET lock_timeout = 0;', "SET lock_timeout = '10s';"],
  ['lock-timeout-off', ['postgresql'], 'RESET ALL;', "SET LOCAL statement_timeout = '5min';"],
  ['byte-order-mark', PROVIDERS, '\uFEFFCREATE TABLE "T" ("id" INTEGER);', 'CREATE TABLE "T" ("id" INTEGER);'],
  ['review', ['postgresql'], 'DO $$ BEGIN PERFORM 1; END $$;', 'CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;'],
  ['review', ['postgresql'], 'ALTER TABLE "User" ATTACH PARTITION "User_2026" FOR VALUES FROM (1) TO (2);', 'ALTER TABLE "User" OWNER TO app;'],
  ['review', ['sqlite'], 'REINDEX "User";', 'PRAGMA foreign_keys=OFF;'],
  ['delete-without-where', ['postgresql'], 'WITH gone AS (DELETE FROM "User" RETURNING "id") SELECT count(*) FROM gone;', 'WITH gone AS (DELETE FROM "User" WHERE "id" = 1 RETURNING "id") SELECT count(*) FROM gone;'],
  ['update-without-where', PROVIDERS, 'UPDATE "User" SET "name" = (SELECT "name" FROM "Other" WHERE "Other"."id" = "User"."id");', 'UPDATE "User" SET "name" = (SELECT "name" FROM "Other" WHERE "Other"."id" = "User"."id") WHERE "name" IS NULL;'],
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

  test('fails closed: every statement is a kind the linter knows, or a review finding; a BOM hides nothing', () => {
    assert.deepEqual(rulesOf('\uFEFFDROP TABLE "User";', 'postgresql'), ['byte-order-mark', 'drop-table']);
    assert.deepEqual(rulesOf('CREATE TEXT SEARCH CONFIGURATION x (COPY = simple);', 'postgresql'), ['review']);
    assert.deepEqual(rulesOf('BEGIN;\nCREATE TYPE "Mood" AS ENUM (\'calm\');\nCOMMENT ON TYPE "Mood" IS \'x\';\nGRANT SELECT ON "User" TO reader;\nCOMMIT;', 'postgresql'), []);
  });

  test('enum-value-used: a use in a query or where the type is named; not after COMMIT, not as a trigger argument or a text default', () => {
    const add = `ALTER TYPE "Role" ADD VALUE 'owner';\n`;
    assert.deepEqual(rulesOf(`${add}ALTER TABLE "User" ADD COLUMN "r" "Role" NOT NULL DEFAULT 'owner';`, 'postgresql'), ['enum-value-used']);
    assert.deepEqual(rulesOf(`${add}ALTER TABLE "User" ALTER COLUMN "r" SET DEFAULT 'owner'::"Role";`, 'postgresql'), ['enum-value-used']);
    assert.deepEqual(rulesOf(`BEGIN;\n${add}COMMIT;\nUPDATE "User" SET "role" = 'owner' WHERE "id" = 1;`, 'postgresql'), []);
    assert.deepEqual(rulesOf(`${add}CREATE TRIGGER t AFTER INSERT ON "User" FOR EACH ROW EXECUTE FUNCTION note('owner');`, 'postgresql'), []);
    assert.deepEqual(rulesOf(`${add}ALTER TABLE "Log" ALTER COLUMN "kind" SET DEFAULT 'owner';`, 'postgresql'), []);
  });

  test('unique-on-existing knows what the history made unique: no error on a key already unique, on Prisma\'s upgrades, or on a fresh column', () => {
    const history = [
      { name: '1_init', script: 'CREATE TABLE "User" ("id" SERIAL NOT NULL, "email" TEXT NOT NULL, "name" TEXT, CONSTRAINT "User_pkey" PRIMARY KEY ("id"));\nCREATE UNIQUE INDEX "User.email_unique" ON "User"("email");\nCREATE TABLE "_AB" ("A" INTEGER NOT NULL, "B" INTEGER NOT NULL);\nCREATE UNIQUE INDEX "_AB_AB_unique" ON "_AB"("A", "B");' },
    ];
    const rulesAfter = (script: string) => lintFolder('postgresql', [...history, { name: '2_next', script }], (name) => name === '2_next').map((f) => f.rule);
    // Prisma 6: the implicit many-to-many table's unique index becomes its primary key.
    assert.deepEqual(rulesAfter('DROP INDEX "_AB_AB_unique";\nALTER TABLE "_AB" ADD CONSTRAINT "_AB_AB_pkey" PRIMARY KEY ("A", "B");').filter((r) => r === 'unique-on-existing'), []);
    // A unique index whose columns include the primary key's.
    assert.deepEqual(rulesAfter('CREATE UNIQUE INDEX "User_id_name_key" ON "User"("id", "name");').filter((r) => r === 'unique-on-existing'), []);
    // Prisma 3: an index renamed by creating the new one and dropping the old.
    assert.deepEqual(rulesAfter('CREATE UNIQUE INDEX "User_email_key" ON "User"("email");\nDROP INDEX "User.email_unique";').filter((r) => r === 'unique-on-existing'), []);
    assert.deepEqual(rulesAfter('ALTER INDEX "User.email_unique" RENAME TO "User_email_key";'), []);
    // A column added in this migration whose values cannot repeat.
    assert.deepEqual(rulesAfter('ALTER TABLE "User" ADD COLUMN "n" SERIAL, ADD CONSTRAINT "User_n_key" UNIQUE ("n");').filter((r) => r === 'unique-on-existing'), []);
    // Still an error where rows may repeat: a column that was never unique, or a partial index that was.
    assert.deepEqual(rulesAfter('CREATE UNIQUE INDEX "User_name_key" ON "User"("name");').filter((r) => r === 'unique-on-existing'), ['unique-on-existing']);
    assert.deepEqual(rulesAfter('ALTER TABLE "User" ADD COLUMN "k" TEXT NOT NULL DEFAULT \'x\', ADD CONSTRAINT "User_k_key" UNIQUE ("k");').filter((r) => r === 'unique-on-existing'), ['unique-on-existing']);
  });

  test('the real histories of ../shared/corpus: every statement classified (only DO blocks for review), nothing unreadable', (t) => {
    const corpus = join(projectRoot, '..', 'shared', 'corpus');
    if (!existsSync(corpus)) return t.skip('../shared/corpus is not here');
    const unclassified = new Map<string, number>();
    for (const history of readdirSync(corpus).filter((name) => name.endsWith('-postgresql'))) {
      const dir = join(corpus, history);
      const migrations = readdirSync(dir).sort().filter((name) => existsSync(join(dir, name, 'migration.sql'))).map((name) => ({ name, script: readFileSync(join(dir, name, 'migration.sql'), 'utf8') }));
      for (const finding of lintFolder('postgresql', migrations, () => true)) {
        if (finding.rule === 'unreadable' || (finding.rule === 'review' && !/^DO\b/.test(finding.statement))) {
          const kind = `${finding.rule}: ${finding.statement.split(/\s+/).slice(0, 3).join(' ')}`;
          unclassified.set(kind, (unclassified.get(kind) ?? 0) + 1);
        }
      }
    }
    assert.deepEqual(Object.fromEntries(unclassified), {}, 'statement kinds the linter does not classify');
  });

  test('the README lists exactly the rules the linter has, each with its level', () => {
    const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('## Zero-downtime migrations'), readme.indexOf('## The official Prisma CLI'));
    const listed = new Map<string, string>();
    for (const row of table.split('\n').filter((line) => /^\|.*\| (error|warning) \|$/.test(line))) {
      const cells = row.split('|').map((cell) => cell.trim());
      for (const [, rule] of (cells[1] ?? '').matchAll(/`([a-z-]+)`/g)) listed.set(rule!, cells[2] ?? '');
    }
    assert.deepEqual([...listed.keys()].sort(), Object.keys(RULES).sort(), 'README rules = code rules');
    for (const [rule, level] of listed) assert.equal(level, RULES[rule as RuleId].level, `${rule}: README says ${level}`);
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

  test('sizes decide: on the database it will run on, a blocking index build carries the table\'s rows and size, and is an error above LINT_LARGE_TABLE_ROWS', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const prismaDir = copyPrismaDir(t);
    assert.equal((await migrate(db.url, ['deploy'], { PRISMA_DIR: prismaDir })).code, 0);
    const conn = await db.connect();
    await conn.exec(`INSERT INTO "Pack" ("name", "createdAt", "updatedAt") SELECT 'p' || g, 0, 0 FROM generate_series(1, 3) AS g`);
    const name = '20990101000000_index_packs';
    for (const provider of PROVIDERS) writeMigration(prismaDir, provider, name, 'CREATE INDEX "Pack_description_idx" ON "Pack"("description");\n');
    const finding = (result: { stdout: string }) => result.stdout.split('\n').find((line) => line.includes('postgresql:1 index-not-concurrent')) ?? '';
    const large = await lint({ DATABASE_URL: db.url, PRISMA_DIR: prismaDir, LINT_LARGE_TABLE_ROWS: '2' });
    assert.equal(large.code, 1, output(large));
    assert.match(finding(large), /^error   20990101000000_index_packs postgresql:1 index-not-concurrent: CREATE INDEX "Pack_description_idx" ON "Pack"\("description"\) \| .* \(3 rows, \d+ kB now\); instead: /);
    const small = await lint({ DATABASE_URL: db.url, PRISMA_DIR: prismaDir, LINT_LARGE_TABLE_ROWS: '100' });
    assert.equal(small.code, 0, output(small));
    assert.match(finding(small), /^warning 20990101000000_index_packs postgresql:1 index-not-concurrent: .* \(3 rows, \d+ kB now\); instead: /);
    const bad = await lint({ DATABASE_URL: db.url, PRISMA_DIR: prismaDir, LINT_LARGE_TABLE_ROWS: 'many' });
    assert.equal(bad.code, 2, output(bad));
    assert.match(bad.stderr, /^Error: LINT_LARGE_TABLE_ROWS must be a whole number of rows, got "many"$/m);
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
async function generatedFindings(t: TestContext, edit: (schema: string) => string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Record<Provider, string[]>> {
  const prismaDir = copyPrismaDir(t);
  const schemaFile = join(prismaDir, 'schema.prisma');
  writeFileSync(schemaFile, edit(readFileSync(schemaFile, 'utf8')));
  const before = migrationNames(prismaDir, 'sqlite');
  const env = { PRISMA_DIR: prismaDir, SHADOW_DATABASE_URL: serverUrl(), ...extraEnv };
  const created = await migrate(`file:${join(tempDir(t), 'dev.db')}`, ['create', '--name', 'change', '--create-only', '--allow-breaking'], env);
  assert.equal(created.code, 0, output(created));
  // The change, and the migration that builds its indexes CONCURRENTLY when make migrate split one off.
  const findings: { dialect: Provider; rule: string; allowed?: string }[] = [];
  for (const name of migrationNames(prismaDir, 'sqlite').filter((n) => !before.includes(n))) {
    const result = await runScript('lint-migrations', ['--name', name, '--json'], { env });
    findings.push(...(JSON.parse(result.stdout) as { findings: typeof findings }).findings);
  }
  return Object.fromEntries(PROVIDERS.map((p) => [p, findings.filter((f) => f.dialect === p && f.allowed === undefined).map((f) => f.rule)])) as Record<Provider, string[]>;
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

  test('add @unique to an existing column: unique-on-existing on both; built CONCURRENTLY on PostgreSQL, so no lock finding', async (t) => {
    const found = await generatedFindings(t, (s) => s.replace(/(\n\s+passwordHash\s+String)/, '$1 @unique'));
    for (const provider of PROVIDERS) assert.ok(found[provider].includes('unique-on-existing'), `${provider}: ${found[provider].join(', ')}`);
    assert.ok(!found.postgresql.includes('index-not-concurrent'), found.postgresql.join(', '));
  });

  test('add @@index: built CONCURRENTLY on PostgreSQL, nothing on either; CONCURRENT_INDEXES=0 keeps Prisma\'s blocking build', async (t) => {
    const addIndex = (s: string) => s.replace(/(\n\s+updatedAt\s+BigInt\n)\}/, '$1\n  @@index([createdAt])\n}');
    const found = await generatedFindings(t, addIndex);
    assert.deepEqual(found, { sqlite: [], postgresql: [] });
    const plain = await generatedFindings(t, addIndex, { CONCURRENT_INDEXES: '0' });
    assert.deepEqual(plain, { sqlite: [], postgresql: ['index-not-concurrent'] });
  });

  test('add an optional @unique field: the new column holds only NULLs, so its unique index is allowed with the reason written', async (t) => {
    const found = await generatedFindings(t, (s) => s.replace(/(\n\s+passwordHash\s+String)/, '$1\n  handle       String? @unique'));
    assert.deepEqual(found, { sqlite: [], postgresql: [] });
  });
});
