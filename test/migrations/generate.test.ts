import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { copyPrismaDir, runScript } from '../helpers.ts';

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
    appendFileSync(join(prisma, 'schema.prisma'), '\nmodel Tagged {\n  id   Int      @id\n  tags String[]\n}\n');
    const result = await runScript('generate', [], { env: { PRISMA_DIR: prisma } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /not valid for sqlite/);
    assert.match(result.stderr, /tags/);
    assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
  });

  test('a PostgreSQL-only native type fails for sqlite, naming the attribute', async (t) => {
    const prisma = copyPrismaDir(t);
    appendFileSync(join(prisma, 'schema.prisma'), '\nmodel Typed {\n  id   String @id @db.Uuid\n}\n');
    const result = await runScript('generate', [], { env: { PRISMA_DIR: prisma } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Uuid/);
  });
});
