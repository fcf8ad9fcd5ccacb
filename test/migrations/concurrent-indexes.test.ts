/**
 * How make migrate splits Prisma's migration: index builds on tables that existed before
 * move into a following migration, CONCURRENTLY on PostgreSQL (the whole flow through
 * `make migrate` and deploy: create.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitIndexBuilds } from '../../src/authoring/concurrent-indexes.ts';

const PRISMA_PG = `-- CreateTable
CREATE TABLE "Tag" ("id" SERIAL NOT NULL, "name" TEXT NOT NULL);

-- AlterTable
ALTER TABLE "Pack" ADD COLUMN "slug" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "Tag_name_key" ON "Tag"("name");

-- CreateIndex
CREATE UNIQUE INDEX "Pack_slug_key" ON "Pack"("slug");

-- CreateIndex
CREATE INDEX "Pack_description_idx" ON "Pack"("description"); CREATE INDEX "Tag_id_idx" ON "Tag"("id");
`;

test('builds on tables that existed move out, CONCURRENTLY IF NOT EXISTS; a new table keeps its own; a neighbour on the same line stays', () => {
  const split = splitIndexBuilds({ postgresql: PRISMA_PG, sqlite: 'ALTER TABLE "Pack" ADD COLUMN "slug" TEXT;\nCREATE UNIQUE INDEX "Pack_slug_key" ON "Pack"("slug");\n' });
  assert.ok(split.indexes);
  assert.match(split.main.postgresql, /CREATE UNIQUE INDEX "Tag_name_key" ON "Tag"\("name"\);/);
  assert.match(split.main.postgresql, /^ ?CREATE INDEX "Tag_id_idx" ON "Tag"\("id"\);$/m);
  assert.doesNotMatch(split.main.postgresql, /Pack_slug_key|Pack_description_idx/);
  assert.deepEqual(
    split.indexes.postgresql.split('\n').filter((line) => line.startsWith('CREATE')),
    ['CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "Pack_slug_key" ON "Pack"("slug");', 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "Pack_description_idx" ON "Pack"("description");'],
  );
  // "slug" is new: all NULL, so its unique index cannot fail; the reason is written for the linter.
  assert.match(split.indexes.postgresql, /^-- lint:allow unique-on-existing the previous migration added "Pack"\."slug": no value repeats before this one runs$/m);
  assert.equal(split.main.sqlite, 'ALTER TABLE "Pack" ADD COLUMN "slug" TEXT;\n');
  assert.match(split.indexes.sqlite, /^CREATE UNIQUE INDEX "Pack_slug_key" ON "Pack"\("slug"\);$/m);
});

test('a unique index a foreign key of the same change needs stays; nothing to move gives no second migration', () => {
  const fk = 'CREATE UNIQUE INDEX "User_email_key" ON "User"("email");\nALTER TABLE "Invite" ADD CONSTRAINT "Invite_email_fkey" FOREIGN KEY ("email") REFERENCES "User"("email");\n';
  assert.equal(splitIndexBuilds({ postgresql: fk, sqlite: '' }).indexes, null);
  assert.equal(splitIndexBuilds({ postgresql: 'CREATE TABLE "A" ("id" INT);\nCREATE INDEX "A_id_idx" ON "A"("id");\n', sqlite: '' }).indexes, null);
});
