/**
 * A database's shape from its catalog in one cheap query: tables, columns with their
 * nullability (and type on PostgreSQL), index, constraint and enum names. Two databases
 * of different shapes differ for Prisma's engine too; equal shapes are only candidates,
 * which the engine's diff then confirms. So the shape leaves out what the engine may
 * read as equal though the catalog spells it otherwise: defaults, SQLite's declared
 * types, SQLite's unnamed foreign keys.
 */
import type { SqlConnection } from '../db.ts';
import { TABLE } from '../runtime/table.ts';

const SQLITE_SHAPE = `
SELECT 'column ' || m.name || '.' || c.name || CASE WHEN c."notnull" THEN ' not null' ELSE '' END || CASE WHEN c.pk > 0 THEN ' pk' ELSE '' END AS item
  FROM sqlite_master m, pragma_table_info(m.name) c
 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND m.name <> '${TABLE}'
UNION ALL
SELECT 'index ' || m.name || '.' || i.name || CASE WHEN i."unique" THEN ' unique' ELSE '' END
  FROM sqlite_master m, pragma_index_list(m.name) i
 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND m.name <> '${TABLE}' AND i.origin = 'c'
UNION ALL
SELECT 'reference ' || m.name || '.' || f."from" || ' -> ' || f."table" || '.' || coalesce(f."to", '')
  FROM sqlite_master m, pragma_foreign_key_list(m.name) f
 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND m.name <> '${TABLE}'`;

const POSTGRES_SHAPE = `
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END AS item
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname <> '${TABLE}' AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'index ' || t.relname || '.' || i.relname
  FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = $1 AND t.relname <> '${TABLE}'
UNION ALL
SELECT 'constraint ' || t.relname || '.' || k.conname || ' ' || k.contype::text
  FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = $1 AND t.relname <> '${TABLE}'
UNION ALL
SELECT 'enum ' || t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
  FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname = $1
 GROUP BY t.typname`;

export type Shape = Set<string>;

export async function readShape(conn: SqlConnection): Promise<Shape> {
  const rows =
    conn.target.provider === 'sqlite'
      ? await conn.query<{ item: string }>(SQLITE_SHAPE)
      : await conn.query<{ item: string }>(POSTGRES_SHAPE, [conn.target.schema]);
  return new Set(rows.map((row) => row.item));
}

/** How many items one shape has that the other lacks: 0 when equal. */
export function shapeDistance(a: Shape, b: Shape): number {
  let distance = 0;
  for (const item of a) if (!b.has(item)) distance++;
  for (const item of b) if (!a.has(item)) distance++;
  return distance;
}
