/**
 * Deterministic synthetic migration histories for the benchmarks.
 *
 * PostgreSQL: 434 migrations with the traits of a real, long-lived Prisma
 * history (the langfuse corpus the benchmark prefers when it is present):
 * `CREATE INDEX CONCURRENTLY` alone in a file, explicit BEGIN/COMMIT files (one
 * with SET TRANSACTION ISOLATION LEVEL), ALTER TYPE … ADD VALUE (one file uses
 * the new value at once), a `;` inside a `--` comment, `$$` bodies holding
 * `BEGIN`/`;`, folder names with spaces, duplicated timestamps and files whose
 * last statement has no `;`.
 *
 * SQLite: 200 migrations as Prisma writes them for SQLite, table
 * redefinitions (PRAGMA foreign_keys, copy, drop, rename) included.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SyntheticMigration {
  name: string;
  script: string;
}

/** mulberry32: the same history on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** `20230101000000` + minutes, as Prisma names folders. */
function timestamp(base: Date, minutes: number): string {
  return new Date(base.getTime() + minutes * 60_000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

interface Table {
  name: string;
  columns: string[];
}

type PgKind = 'concurrently' | 'self-managed' | 'enum' | 'function' | 'seed' | 'view' | 'table' | 'column' | 'index' | 'backfill';

export function postgresHistory(count = 434): SyntheticMigration[] {
  const random = prng(434);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  const tables: Table[] = [];
  const enums = new Map<string, string[]>([
    ['Role', ['OWNER', 'ADMIN', 'MEMBER']],
    ['Status', ['PENDING', 'RUNNING', 'DONE']],
    ['Source', ['API', 'UI']],
  ]);
  const table = (name: string, extra: string[]): string => {
    tables.push({ name, columns: ['id', 'created_at', 'updated_at', 'project_id', ...extra.map((c) => c.split(' ')[0]!.replace(/"/g, ''))] });
    return [
      `-- CreateTable`,
      `CREATE TABLE "${name}" (`,
      `    "id" TEXT NOT NULL,`,
      `    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,`,
      `    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,`,
      `    "project_id" TEXT NOT NULL,`,
      ...extra.map((c) => `    ${c},`),
      ``,
      `    CONSTRAINT "${name}_pkey" PRIMARY KEY ("id")`,
      `);`,
      ``,
      `-- CreateIndex`,
      `CREATE INDEX "${name}_project_id_idx" ON "${name}"("project_id");`,
    ].join('\n');
  };

  const init = [
    `-- CreateEnum`,
    ...[...enums].map(([name, values]) => `CREATE TYPE "${name}" AS ENUM (${values.map((v) => `'${v}'`).join(', ')});\n`),
    table('projects', [`"name" TEXT NOT NULL`]),
    table('users', [`"email" TEXT`, `"role" "Role" NOT NULL DEFAULT 'MEMBER'`]),
    table('traces', [`"name" TEXT`, `"status" "Status" NOT NULL DEFAULT 'PENDING'`, `"input" JSONB`]),
    table('observations', [`"trace_id" TEXT NOT NULL`, `"type" TEXT NOT NULL`, `"source" "Source"`]),
    table('scores', [`"trace_id" TEXT NOT NULL`, `"value" DOUBLE PRECISION NOT NULL`, `"source" "Source" NOT NULL DEFAULT 'API'`]),
    `-- AddForeignKey`,
    `ALTER TABLE "traces" ADD CONSTRAINT "traces_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;`,
  ].join('\n');

  // The mix of the real history: 98 CONCURRENTLY, 13 self-managed, 19 enum additions.
  const rest = count - 1;
  const fixed: PgKind[] = [
    ...Array<PgKind>(98).fill('concurrently'),
    ...Array<PgKind>(13).fill('self-managed'),
    ...Array<PgKind>(19).fill('enum'),
    ...Array<PgKind>(12).fill('function'),
    ...Array<PgKind>(30).fill('seed'),
    ...Array<PgKind>(14).fill('view'),
    ...Array<PgKind>(45).fill('table'),
    ...Array<PgKind>(25).fill('backfill'),
  ];
  const filler: PgKind[] = ['column', 'column', 'index'];
  // Tables must exist before anything indexes them: a few tables come first.
  const first: PgKind[] = ['table', 'table', 'table'];
  while (fixed.length < rest - first.length) fixed.push(filler[fixed.length % filler.length]!);
  const kinds = [...first, ...shuffle(fixed, random)];

  const base = new Date(Date.UTC(2023, 4, 18, 19, 15, 1));
  const migrations: SyntheticMigration[] = [{ name: `${timestamp(base, 0)}_init`, script: `${init}\n` }];
  let selfManaged = 0;
  let enumAdds = 0;
  let commentTrick = false;
  let minutes = 0;
  kinds.forEach((kind, index) => {
    const k = index + 1;
    const t = pick(tables);
    let name: string;
    let script: string;
    switch (kind) {
      case 'concurrently': {
        const column = pick(t.columns);
        name = `${t.name}_${column}_index_${k}`;
        script = `-- CreateIndex\nCREATE INDEX CONCURRENTLY IF NOT EXISTS "${t.name}_${column}_${k}_idx" ON "${t.name}"("${column}", "created_at");\n`;
        break;
      }
      case 'self-managed': {
        const isolation = selfManaged++ === 5;
        name = isolation ? `backfill_${t.name}_consistent_${k}` : `restructure_${t.name}_${k}`;
        const column = `flag_${k}`;
        t.columns.push(column);
        script = [
          `-- Runs in its own transaction${isolation ? ', with one snapshot for every statement' : ''}`,
          `BEGIN;`,
          ...(isolation ? [`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;`] : []),
          `ALTER TABLE "${t.name}" ADD COLUMN "${column}" BOOLEAN NOT NULL DEFAULT false;`,
          `UPDATE "${t.name}" SET "${column}" = true WHERE "created_at" < now() - interval '30 days';`,
          `CREATE INDEX "${t.name}_${column}_idx" ON "${t.name}"("${column}");`,
          `COMMIT;`,
          ``,
        ].join('\n');
        break;
      }
      case 'enum': {
        const n = enumAdds++;
        const [type, values] = [...enums][n % enums.size]!;
        const value = `VALUE_${k}`;
        values.push(value);
        name = `${type.toLowerCase()}_add_${value.toLowerCase()}`;
        if (n === 3) {
          // Several values at once, as Prisma writes them.
          const more = [`${value}_B`, `${value}_C`];
          values.push(...more);
          script = `-- AlterEnum\n-- This migration adds more than one value to an enum.\n${[value, ...more].map((v) => `ALTER TYPE "${type}" ADD VALUE '${v}';`).join('\n')}\n`;
        } else if (n === 7) {
          // The new value used at once: PostgreSQL needs a commit in between (psql autocommit does it).
          script = `-- AlterEnum\nALTER TYPE "${type}" ADD VALUE '${value}';\n\n-- Backfill: the new value is used right away\nUPDATE "traces" SET "status" = '${value}' WHERE "status" = 'PENDING' AND "created_at" < '2020-01-01';\n`;
        } else {
          script = `-- AlterEnum\nALTER TYPE "${type}" ADD VALUE '${value}';\n`;
        }
        break;
      }
      case 'function': {
        name = `${t.name}_touch_trigger_${k}`;
        script = [
          `-- A function body holds BEGIN and ';': one statement, not a transaction`,
          `CREATE OR REPLACE FUNCTION "touch_${k}"() RETURNS TRIGGER AS $$`,
          `BEGIN`,
          `  NEW."updated_at" = now(); -- keep it fresh; always`,
          `  RETURN NEW;`,
          `END;`,
          `$$ LANGUAGE plpgsql;`,
          ``,
          `CREATE TRIGGER "${t.name}_touch_${k}" BEFORE UPDATE ON "${t.name}" FOR EACH ROW EXECUTE FUNCTION "touch_${k}"();`,
          ``,
          `DO $body$`,
          `BEGIN`,
          `  IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = '${t.name}_audit_${k}') THEN`,
          `    EXECUTE 'CREATE TABLE "${t.name}_audit_${k}" ("id" TEXT PRIMARY KEY, "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP)';`,
          `  END IF;`,
          `END`,
          `$body$;`,
          ``,
        ].join('\n');
        break;
      }
      case 'seed': {
        name = `add_model_prices_${k}`;
        const rows = Array.from({ length: 12 }, (_, i) => `  ('m_${k}_${i}', 'model-${k}-${i}', '(?i)^(model-${k}-${i})$', ${(0.000001 * (i + 1)).toFixed(7)}, 'TOKENS', '{"tokenizer": "t-${i}"}')`);
        // Like the real history: the last statement of a seed file often has no `;`.
        script = `-- Seed prices\nINSERT INTO "models_${k % 3}" ("id", "model_name", "match_pattern", "price", "unit", "config") VALUES\n${rows.join(',\n')}\n`;
        break;
      }
      case 'view': {
        name = `${t.name}_view_${k}`;
        script = [
          `CREATE OR REPLACE VIEW "${t.name}_view_${k}" AS`,
          `SELECT t."id", t."project_id", t."created_at", count(*) OVER (PARTITION BY t."project_id") AS "per_project"`,
          `FROM "${t.name}" t`,
          `WHERE t."created_at" > '2020-01-01'`,
        ].join('\n');
        break;
      }
      case 'table': {
        const tableName = `table_${k}`;
        name = `add_${tableName}`;
        const parent = pick(tables);
        script = [
          table(tableName, [`"name" TEXT NOT NULL`, `"parent_id" TEXT`, `"payload" JSONB`, `"weight" INTEGER NOT NULL DEFAULT 0`]),
          `CREATE UNIQUE INDEX "${tableName}_project_id_name_key" ON "${tableName}"("project_id", "name");`,
          ``,
          `-- AddForeignKey`,
          `ALTER TABLE "${tableName}" ADD CONSTRAINT "${tableName}_parent_id_fkey" FOREIGN KEY ("parent_id") REFERENCES "${parent.name}"("id") ON DELETE SET NULL ON UPDATE CASCADE;`,
          ``,
        ].join('\n');
        break;
      }
      case 'column': {
        const column = `col_${k}`;
        name = `${t.name}_add_${column}`;
        t.columns.push(column);
        const comment = commentTrick ? '-- AlterTable' : '-- AlterTable; the default is dropped right away; the app sets it';
        commentTrick = true;
        script = `${comment}\nALTER TABLE "${t.name}" ADD COLUMN "${column}" TEXT DEFAULT 'x;y';\nALTER TABLE "${t.name}" ALTER COLUMN "${column}" DROP DEFAULT;\n`;
        break;
      }
      case 'index': {
        const column = pick(t.columns);
        name = `${t.name}_${column}_idx_${k}`;
        script = `-- CreateIndex\nCREATE INDEX "${t.name}_${column}_${k}_idx" ON "${t.name}"("${column}");\n`;
        break;
      }
      case 'backfill': {
        name = `backfill_${t.name}_${k}`;
        script = `-- Backfill\nUPDATE "${t.name}" SET "updated_at" = "created_at" WHERE "updated_at" < "created_at";\n\nDELETE FROM "${t.name}" WHERE "project_id" = 'deleted-project-${k}'`;
        break;
      }
    }
    // Duplicated timestamps (every 61st migration shares its predecessor's, and sorts
    // after it: same prefix, longer name) and two "… copy" folders, as in the real history.
    const duplicate = k % 61 === 0;
    if (!duplicate) minutes += 7 + Math.floor(random() * 3000);
    const copy = k === 150 || k === 301 ? ' copy' : '';
    const previous = migrations[migrations.length - 1]!.name;
    const folder = duplicate ? `${previous}_then_${name!}` : `${timestamp(base, minutes)}_${name!}${copy}`;
    migrations.push({ name: folder, script: script! });
  });
  // Seeds need their tables: create them in the init migration.
  migrations[0]!.script += [0, 1, 2]
    .map((i) => `\nCREATE TABLE "models_${i}" ("id" TEXT PRIMARY KEY, "model_name" TEXT NOT NULL, "match_pattern" TEXT NOT NULL, "price" DECIMAL(65,30), "unit" TEXT, "config" JSONB);`)
    .join('');
  return migrations;
}

export function sqliteHistory(count = 200): SyntheticMigration[] {
  const random = prng(200);
  const tables: Table[] = [];
  const base = new Date(Date.UTC(2025, 11, 28, 13, 46, 26));
  const migrations: SyntheticMigration[] = [];
  const createTable = (name: string, parent?: Table): string => {
    tables.push({ name, columns: ['id', 'createdAt', 'name', 'weight', ...(parent ? ['parentId'] : [])] });
    return [
      `-- CreateTable`,
      `CREATE TABLE "${name}" (`,
      `    "id" TEXT NOT NULL PRIMARY KEY,`,
      `    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,`,
      `    "name" TEXT NOT NULL,`,
      `    "weight" INTEGER NOT NULL DEFAULT 0${parent ? ',' : ''}`,
      ...(parent ? [`    "parentId" TEXT,`, `    CONSTRAINT "${name}_parentId_fkey" FOREIGN KEY ("parentId") REFERENCES "${parent.name}" ("id") ON DELETE SET NULL ON UPDATE CASCADE`] : []),
      `);`,
      ``,
      `-- CreateIndex`,
      `CREATE UNIQUE INDEX "${name}_name_key" ON "${name}"("name");`,
      ``,
    ].join('\n');
  };
  for (let k = 0; k < count; k++) {
    const kind = k < 3 ? 'table' : (['table', 'column', 'column', 'index', 'seed', 'redefine'] as const)[Math.floor(random() * 6)]!;
    const t = tables[Math.floor(random() * tables.length)];
    let name: string;
    let script: string;
    if (kind === 'table' || !t) {
      const tableName = `Table${k}`;
      name = `add_${tableName.toLowerCase()}`;
      script = createTable(tableName, tables[Math.floor(random() * tables.length)]);
    } else if (kind === 'column') {
      const column = `col${k}`;
      t.columns.push(column);
      name = `${t.name.toLowerCase()}_add_${column}`;
      script = `-- AlterTable\nALTER TABLE "${t.name}" ADD COLUMN "${column}" TEXT;\n`;
    } else if (kind === 'index') {
      const column = t.columns[Math.floor(random() * t.columns.length)]!;
      name = `${t.name.toLowerCase()}_${column.toLowerCase()}_idx_${k}`;
      script = `-- CreateIndex\nCREATE INDEX "${t.name}_${column}_${k}_idx" ON "${t.name}"("${column}");\n`;
    } else if (kind === 'seed') {
      name = `seed_${t.name.toLowerCase()}_${k}`;
      const rows = Array.from({ length: 20 }, (_, i) => `('${t.name}-${k}-${i}', 'row ${k}/${i}', ${i})`);
      script = `-- Seed\nINSERT INTO "${t.name}" ("id", "name", "weight") VALUES\n${rows.join(',\n')};\n`;
    } else {
      // Prisma's table redefinition: SQLite cannot alter a column in place.
      name = `${t.name.toLowerCase()}_redefine_${k}`;
      const keep = t.columns.filter((c) => c !== 'weight');
      const columns = keep.map((c) => `"${c}"`).join(', ');
      script = [
        `-- RedefineTables`,
        `PRAGMA defer_foreign_keys=ON;`,
        `PRAGMA foreign_keys=OFF;`,
        `CREATE TABLE "new_${t.name}" (`,
        ...keep.map((c) => `    "${c}" ${c === 'id' ? 'TEXT NOT NULL PRIMARY KEY' : c === 'createdAt' ? 'DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP' : c === 'name' ? 'TEXT NOT NULL' : 'TEXT'},`),
        `    "weight" BIGINT NOT NULL DEFAULT 0`,
        `);`,
        `INSERT INTO "new_${t.name}" (${columns}, "weight") SELECT ${columns}, "weight" FROM "${t.name}";`,
        `DROP TABLE "${t.name}";`,
        `ALTER TABLE "new_${t.name}" RENAME TO "${t.name}";`,
        `CREATE UNIQUE INDEX "${t.name}_name_key" ON "${t.name}"("name");`,
        `PRAGMA foreign_keys=ON;`,
        `PRAGMA defer_foreign_keys=OFF;`,
        ``,
      ].join('\n');
    }
    migrations.push({ name: `${timestamp(base, k * 13)}_${name}`, script });
  }
  return migrations;
}

/** Write a history as Prisma lays it out: <dir>/<name>/migration.sql + migration_lock.toml. */
export function writeHistory(dir: string, provider: 'sqlite' | 'postgresql', migrations: SyntheticMigration[]): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'migration_lock.toml'), `# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "${provider}"\n`);
  for (const migration of migrations) {
    mkdirSync(join(dir, migration.name));
    writeFileSync(join(dir, migration.name, 'migration.sql'), migration.script);
  }
}
