import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { copyPrismaDir, runScript } from '../helpers.ts';

/** The line number `k` lines past the end of the copied schema (where appended text lands). */
function lineAfterSchema(prisma: string, k: number): number {
  return readFileSync(join(prisma, 'schema.prisma'), 'utf8').split('\n').length - 1 + k;
}

describe('generate', () => {
  test('derives the PostgreSQL schema and generates one client per provider', async (t) => {
    const prisma = copyPrismaDir(t);
    writeFileSync(join(prisma, 'schema.postgresql.prisma'), '// stale\n');
    const result = await runScript('generate', [], { env: { PRISMA_DIR: prisma } });
    assert.equal(result.code, 0, result.stderr);
    const derived = readFileSync(join(prisma, 'schema.postgresql.prisma'), 'utf8');
    assert.match(derived, /provider = "postgresql"/);
    assert.match(derived, /GENERATED from schema\.prisma/);
    for (const provider of ['sqlite', 'postgresql']) assert.ok(existsSync(join(prisma, '..', 'src', 'generated', provider, 'client.ts')), provider);
  });

  test('a construct one provider cannot express fails, naming it (exit 2)', async (t) => {
    const prisma = copyPrismaDir(t);
    const line = lineAfterSchema(prisma, 4); // the appended model's `tags` line
    appendFileSync(join(prisma, 'schema.prisma'), '\nmodel Tagged {\n  id   Int      @id\n  tags String[]\n}\n');
    const result = await runScript('generate', [], { env: { PRISMA_DIR: prisma } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /uses 1 construct that SQLite cannot express/);
    assert.match(result.stderr, new RegExp(`String\\[\\] \\(a scalar list\\) ×1, line ${line}\\n\\s+write instead: a related model`));
    assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
  });

  test('a PostgreSQL-only native type fails for sqlite, naming the attribute', async (t) => {
    const prisma = copyPrismaDir(t);
    const line = lineAfterSchema(prisma, 3);
    appendFileSync(join(prisma, 'schema.prisma'), '\nmodel Typed {\n  id   String @id @db.Uuid\n}\n');
    const result = await runScript('generate', [], { env: { PRISMA_DIR: prisma } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, new RegExp(`@db\\.Uuid ×1, line ${line}\\n\\s+write instead: String without @db\\.Uuid`));
  });

  test('a schema written for PostgreSQL: says to switch the provider and lists every construct to change, grouped, with lines', async (t) => {
    const prisma = copyPrismaDir(t);
    const models = Array.from({ length: 40 }, (_, k) => `model M${k} {\n  id String @id @default(uuid()) @db.Uuid\n  at DateTime @db.Timestamptz(6)\n}\n`).join('\n');
    writeFileSync(join(prisma, 'schema.prisma'), `generator client {\n  provider = "prisma-client"\n  output   = "../src/generated/sqlite"\n}\n\ndatasource db {\n  provider = "postgresql"\n}\n\n${models}`);
    for (const script of ['generate', 'migrate'] as const) {
      const result = await runScript(script, script === 'migrate' ? ['create', '--name', 'x', '--create-only'] : [], { env: { PRISMA_DIR: prisma, DATABASE_URL: `file:${join(prisma, 'dev.db')}` } });
      assert.equal(result.code, 2, result.stderr);
      const error = result.stderr.slice(result.stderr.indexOf('Error: '));
      assert.match(error, /^Error: prisma\/schema\.prisma has provider = "postgresql", .*write provider = "sqlite"; then replace the 80 constructs SQLite cannot express:/);
      assert.match(error, /@db\.Timestamptz ×40, lines 12, 17, 22, .* \(40 in all\)\n\s+write instead: DateTime without @db\.Timestamptz/);
      assert.match(error, /@db\.Uuid ×40, lines 11, 16, /);
    }
  });

  test('a client output that would hold both providers is refused, saying what to write', async (t) => {
    const prisma = copyPrismaDir(t);
    const path = join(prisma, 'schema.prisma');
    writeFileSync(path, readFileSync(path, 'utf8').replace('"../src/generated/sqlite"', '"../src/generated/prisma"'));
    const result = await runScript('generate', [], { env: { PRISMA_DIR: prisma } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /output "\.\.\/src\/generated\/prisma" does not end in \/sqlite, so both providers' clients would be generated into one folder; write output = "\.\.\/src\/generated\/sqlite"/);
    assert.ok(!existsSync(join(prisma, '..', 'src', 'generated', 'prisma')), 'nothing generated');
  });

  test('an invalid line is blamed on the same schema every time, and make migrate exits 2 for it', async (t) => {
    const prisma = copyPrismaDir(t);
    appendFileSync(join(prisma, 'schema.prisma'), '\nmodel Broken {\n  id Int @id\n  oops\n}\n');
    for (let run = 0; run < 3; run++) {
      const result = await runScript('generate', [], { env: { PRISMA_DIR: prisma } });
      assert.equal(result.code, 2);
      assert.match(result.stderr, /The schema is not valid for sqlite \(/);
      assert.match(result.stderr, /This field declaration is invalid/);
    }
    const migrate = await runScript('migrate', ['create', '--name', 'x', '--create-only'], { env: { PRISMA_DIR: prisma, DATABASE_URL: `file:${join(prisma, 'dev.db')}` } });
    assert.equal(migrate.code, 2, migrate.stderr);
    assert.match(migrate.stderr, /^Error: P1012: .*Broken/m);
  });
});
