import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { riskMessage, riskySteps } from '../../src/authoring/data-loss.ts';
import { splitAdditive } from '../../src/authoring/drift.ts';
import { parseScript, scriptMode, statementLine, withoutConcurrently } from '../../src/runtime/sql-script.ts';
import { acceptingLegacyStrings, SCHEMA_NAMES_SQL } from '../../src/runtime/sqlite-script.ts';
import Database from 'better-sqlite3';

describe('reading migration SQL', () => {
  test('a ; inside comments, strings, quoted names, $$ bodies and BEGIN ATOMIC does not end a statement', () => {
    const script = [
      '-- ---------------------------------------------------------------- ; banner',
      'CREATE TABLE "a;b" ("x" TEXT DEFAULT \'semi;colon\');',
      '/* outer /* nested ; */ still ; comment */ INSERT INTO t VALUES (E\'it\\\'s;\');',
      'CREATE FUNCTION f() RETURNS trigger AS $body$ BEGIN RETURN NEW; END; $body$ LANGUAGE plpgsql;',
      'DO $$ BEGIN PERFORM 1; END $$;',
      'CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END;',
      'SELECT $1, a$b$ FROM t;',
      '-- trailing comment only',
    ].join('\n');
    const statements = parseScript(script);
    assert.deepEqual(
      statements.map((s) => s.text.slice(0, 22)),
      ['CREATE TABLE "a;b" ("x', 'INSERT INTO t VALUES (', 'CREATE FUNCTION f() RE', 'DO $$ BEGIN PERFORM 1;', 'CREATE FUNCTION g() RE', 'SELECT $1, a$b$ FROM t'],
    );
    assert.deepEqual(statements.map((s) => s.line), [2, 3, 4, 5, 6, 7]);
  });

  test('SQLite: a trigger body is one statement; /* */ does not nest; [brackets] and `backticks` quote names', () => {
    const script = [
      'CREATE TRIGGER "t" AFTER INSERT ON "A" BEGIN UPDATE "A" SET "n" = CASE WHEN 1 THEN 2 END; DELETE FROM "B"; END;',
      '/* a /* b */ SELECT [x;y], `p;q` FROM "A";',
    ].join('\n');
    assert.deepEqual(parseScript(script, 'sqlite').map((s) => s.text), [
      'CREATE TRIGGER "t" AFTER INSERT ON "A" BEGIN UPDATE "A" SET "n" = CASE WHEN 1 THEN 2 END; DELETE FROM "B"; END',
      'SELECT [x;y], `p;q` FROM "A"',
    ]);
  });

  test('a statement on one line: comments dropped, blanks collapsed, long text cut', () => {
    assert.equal(statementLine('UPDATE  "Config" -- why\n  SET  x = \'a  b\'  /* c */ WHERE y'), 'UPDATE "Config" SET x = \'a  b\' WHERE y');
    assert.equal(statementLine(`SELECT '${'x'.repeat(500)}'`, 40).length, 40);
  });

  test('how a migration must run: transaction, its own transactions, or statement by statement', () => {
    assert.deepEqual(scriptMode('-- ------------------\nCREATE TABLE "A" (id INT);', 'postgresql'), { kind: 'transactional' });
    assert.deepEqual(scriptMode('BEGIN;\nALTER TYPE "E" RENAME TO "E_old";\nCOMMIT;', 'postgresql'), { kind: 'self-managed' });
    assert.equal(scriptMode('CREATE INDEX CONCURRENTLY "i" ON "A"("x");', 'postgresql').kind, 'no-transaction');
    assert.equal(scriptMode('-- CREATE INDEX CONCURRENTLY in a comment\nCREATE INDEX "i" ON "A"("x");', 'postgresql').kind, 'transactional');
    // An enum value added then used: the server decides at deploy (55P04), not a guess from strings.
    assert.equal(scriptMode(`ALTER TYPE "Role" ADD VALUE 'OWNER';\nUPDATE "User" SET role = 'OWNER';`, 'postgresql').kind, 'transactional');
    // A COMMIT after a comment that a lone carriage return ends (PostgreSQL's rule; SQLite's comment runs to the newline).
    assert.equal(scriptMode('CREATE TABLE "A" (id INT);\n-- done\rCOMMIT;\nSELECT 1;', 'postgresql').kind, 'self-managed');
    assert.deepEqual(parseScript('SELECT 1; -- a\rSELECT 2;', 'sqlite').map((s) => s.text), ['SELECT 1']);
    assert.equal(scriptMode('SAVEPOINT a;\nCREATE TABLE "A" (id INT);\nROLLBACK TO SAVEPOINT a;', 'postgresql').kind, 'transactional', 'ROLLBACK TO keeps the transaction');
  });

  test('for a new database: CONCURRENTLY taken out of index builds and drops only, the rest of the script as written', () => {
    const script = `-- built CONCURRENTLY below\nCREATE INDEX CONCURRENTLY "a" ON "A"("x");\ncreate unique index concurrently if not exists "b" ON "A"("y");\nDROP INDEX CONCURRENTLY IF EXISTS "c";\nCOMMENT ON INDEX "a" IS 'CONCURRENTLY';\n`;
    assert.equal(withoutConcurrently(script), `-- built CONCURRENTLY below\nCREATE INDEX  "a" ON "A"("x");\ncreate unique index  if not exists "b" ON "A"("y");\nDROP INDEX  IF EXISTS "c";\nCOMMENT ON INDEX "a" IS 'CONCURRENTLY';\n`);
    assert.equal(scriptMode(withoutConcurrently(script) ?? '', 'postgresql').kind, 'transactional');
    // What a transaction cannot hold for another reason stays as it is.
    assert.equal(withoutConcurrently('CREATE INDEX CONCURRENTLY "a" ON "A"("x");\nREINDEX INDEX CONCURRENTLY "b";'), null);
    assert.equal(withoutConcurrently('CREATE INDEX CONCURRENTLY "a" ON "A"("x");\nVACUUM "A";'), null);
    assert.equal(withoutConcurrently('BEGIN;\nCREATE INDEX "a" ON "A"("x");\nCOMMIT;\nCREATE INDEX CONCURRENTLY "b" ON "A"("y");'), null);
    assert.equal(withoutConcurrently('ALTER TABLE "P" DETACH PARTITION "p1" CONCURRENTLY;'), null);
  });

  test('risky steps are read from every action of an ALTER TABLE', () => {
    const steps = riskySteps('ALTER TABLE "User" DROP COLUMN "age",\nADD COLUMN "score" DECIMAL(10,2) NOT NULL,\nADD COLUMN "nick" TEXT NOT NULL DEFAULT \'x\';\nDROP TABLE IF EXISTS "Old";');
    assert.deepEqual(
      steps.map((s) => [s.kind, s.table, riskMessage(s, 3)]),
      [
        ['warnings', 'User', 'You are about to drop the column `age` on the `User` table (3 row(s)); its values will be lost.'],
        ['unexecutable', 'User', 'Added the required column `score` to the `User` table without a default value. There are 3 rows in this table, it is not possible to execute this step.'],
        ['warnings', 'Old', 'You are about to drop the table `Old`, which holds 3 row(s).'],
      ],
    );
  });

  test('risky steps weigh every table a statement destroys: DROP TABLE a, b; TRUNCATE a, b', () => {
    const steps = riskySteps('DROP TABLE "A", public."B" CASCADE;\nTRUNCATE TABLE ONLY "C", "D" *;');
    assert.deepEqual(
      steps.map((s) => [s.risk, s.table]),
      [['drop-table', 'A'], ['drop-table', 'B'], ['truncate', 'C'], ['truncate', 'D']],
    );
    assert.equal(riskMessage(steps[2]!, 7), 'You are about to delete every row of the table `C` (TRUNCATE), which holds 7 row(s).');
  });

  test('SQLite legacy strings: a VALUES list of many rows compiles a bounded number of times, whatever its length; names stay names', async () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE "Pack" ("id" INTEGER PRIMARY KEY, "name" TEXT, "kind" TEXT)');
    for (const rows of [10, 20_000]) {
      db.exec('DELETE FROM "Pack"');
      let compiles = 0;
      const values = Array.from({ length: rows }, (_, k) => `(${k}, "pack ${k}", "name")`).join(', ');
      await acceptingLegacyStrings(`INSERT INTO "Pack" ("id", "name", "kind") VALUES ${values}`, (sql) => {
        compiles++;
        db.exec(sql);
      });
      assert.ok(compiles <= 2, `${rows} rows: ${compiles} compiles`);
      assert.deepEqual(db.prepare('SELECT count(*) AS n, max("kind") AS kind FROM "Pack"').get(), { n: rows, kind: 'name' }, 'each "…" read as a string, "name" included');
    }
    // Outside VALUES rows the token-by-token rule decides: "name" is the column, "pack 1" the string.
    let compiles = 0;
    await acceptingLegacyStrings('UPDATE "Pack" SET "kind" = "name" WHERE "name" = "pack 1"', (sql) => (compiles++, db.exec(sql)));
    assert.equal((db.prepare('SELECT "kind" FROM "Pack" WHERE "id" = 1').get() as { kind: string }).kind, 'pack 1');
    assert.ok(compiles <= 3, `${compiles} compiles`);
  });

  test('SQLite legacy strings anywhere (IN lists, CASE chains): with the schema\'s names, a bounded number of compiles; columns, aliases and CTE columns stay names', async () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE "Pack" ("id" INTEGER PRIMARY KEY, "name" TEXT, "kind" TEXT)');
    db.exec(`INSERT INTO "Pack" VALUES (1, 'a', 'x'), (2, 'b', 'y'), (3, 'name', 'z')`);
    const names = () => new Set(db.prepare(SCHEMA_NAMES_SQL).pluck().all() as string[]);
    const run = async (sql: string) => {
      let compiles = 0;
      const rows = await acceptingLegacyStrings(sql, (text) => (compiles++, db.prepare(text).all()), names);
      return { rows, compiles };
    };
    for (const n of [10, 5_000]) {
      const list = Array.from({ length: n }, (_, k) => `"v${k}"`).join(', ');
      const cases = Array.from({ length: n }, (_, k) => `WHEN ${k} THEN "c${k}"`).join(' ');
      const { rows, compiles } = await run(`SELECT "id", CASE "id" ${cases} END AS "label" FROM "Pack" WHERE "name" IN ("a", "b", ${list}) ORDER BY "label"`);
      assert.deepEqual(rows, [{ id: 1, label: 'c1' }, { id: 2, label: 'c2' }]);
      assert.ok(compiles <= 3, `${n} literals: ${compiles} compiles`);
    }
    // "name" is the column (row 3 matches itself), "t" an alias, "x" a CTE's column: none becomes a string.
    const { rows } = await run(`WITH "c"("x") AS (SELECT "kind" FROM "Pack") SELECT "t"."id" FROM "Pack" "t" JOIN "c" ON "c"."x" = "t"."kind" WHERE "t"."name" = "name" AND "x" <> "nothing"`);
    assert.deepEqual(rows, [{ id: 1 }, { id: 2 }, { id: 3 }]);
  });

  // Linear work on these inputs takes ~10-50 ms, ~150 ms on a loaded machine; quadratic work takes minutes.
  const LINEAR_BOUND_MS = 1000;
  test('every scanner is linear: pathological inputs take less than a second each (a quadratic scanner takes minutes)', () => {
    const megabyte = 'CREATE TABLE "T" ("id" SERIAL NOT NULL, "v" TEXT DEFAULT \'a;b\', CONSTRAINT "T_pkey" PRIMARY KEY ("id"));\n-- comment ; here\n'.repeat(9000);
    const inputs: Record<string, string> = {
      'a 10,000-character comment line of dashes': `-- ${'-'.repeat(10_000)}\nCREATE TABLE "A" (id INT);\n`.repeat(20),
      'dashes without a statement': '-'.repeat(200_000),
      'a 1 MB script': megabyte,
      'a run of single quotes': "'".repeat(200_001),
      'a run of double quotes': '"'.repeat(200_001),
      'escaped quotes': `E'${"\\'".repeat(100_000)}`,
      'dollar quotes': '$$'.repeat(100_000),
      'unterminated dollar tags': Array.from({ length: 20_000 }, (_, k) => `$t${k}$`).join(' '),
      'nested block comments': '/*'.repeat(100_000) + '*/'.repeat(100_000),
      'unterminated block comments': '/* /'.repeat(100_000),
      'a long ALTER TABLE': `ALTER TABLE "T" ${Array.from({ length: 20_000 }, (_, k) => `ADD COLUMN "c${k}" TEXT NOT NULL`).join(', ')};`,
      'many DETACH words': `ALTER TABLE t ${'DETACH PARTITION '.repeat(50_000)};`,
      'an added enum value and many strings': `ALTER TYPE "E" ADD VALUE 'v';\nINSERT INTO t VALUES ${Array.from({ length: 30_000 }, (_, k) => `('w${k}')`).join(',')};`,
      'a trigger that never ends': `CREATE TRIGGER t BEGIN ${'SELECT CASE WHEN 1 THEN 2 END; '.repeat(20_000)}`,
      'begin atomic bodies': `CREATE FUNCTION f() BEGIN ATOMIC ${'SELECT CASE WHEN x THEN 1 END; '.repeat(20_000)} END;`,
    };
    const scanners: Record<string, (input: string) => unknown> = {
      'parseScript (PostgreSQL)': (input) => parseScript(input, 'postgresql'),
      'parseScript (SQLite)': (input) => parseScript(input, 'sqlite'),
      'scriptMode (PostgreSQL)': (input) => scriptMode(input, 'postgresql'),
      'scriptMode (SQLite)': (input) => scriptMode(input, 'sqlite'),
      'riskySteps (data loss)': (input) => riskySteps(input),
      'splitAdditive (verify)': (input) => splitAdditive(input, 'postgresql'),
      statementLine: (input) => statementLine(input),
    };
    for (const run of Object.values(scanners)) run(megabyte); // warm up the JIT once
    const slow: string[] = [];
    for (const [inputName, input] of Object.entries(inputs)) {
      for (const [scannerName, run] of Object.entries(scanners)) {
        // The best of three: a garbage collection or a busy machine may slow one run; a superlinear scanner is slow every time.
        let ms = Infinity;
        for (let attempt = 0; attempt < 3 && ms > LINEAR_BOUND_MS; attempt++) {
          const started = performance.now();
          run(input);
          ms = Math.min(ms, performance.now() - started);
        }
        if (ms > LINEAR_BOUND_MS) slow.push(`${scannerName} on ${inputName}: ${ms.toFixed(0)} ms`);
      }
    }
    assert.deepEqual(slow, []);
  });
});
