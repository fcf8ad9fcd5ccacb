/**
 * What a database's schema means, read from its catalog in one query, the same on every
 * PostgreSQL major (15 to 18) and whoever owns it: tables, columns with their type and
 * nullability, indexes, constraints, enums, and what Prisma's diff does not compare
 * (functions and procedures, triggers, views and materialized views, policies and row
 * level security, extensions, sequences and their owners, grants, comments; on SQLite
 * triggers and views). A view is read as its columns and what it reads: PostgreSQL 16
 * and later print a view's text otherwise than 15 does (fewer table qualifiers). A shape is a map from an object (`trigger "t" on "T"`) to what
 * it is (a digest of its definition), so that two shapes can be told apart object by
 * object. What the engine may read as equal though the catalog spells it otherwise
 * (defaults, SQLite's declared types and unnamed foreign keys) is left to the engine.
 */
import { createHash } from 'node:crypto';
import type { SqlConnection } from '../db.ts';
import { TABLE } from '../runtime/table.ts';

/** `object` → its definition (or '' when the object's presence is all there is to it). */
export type Shape = Map<string, string>;

const NOT_SQLITE_INTERNAL = `m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND m.name <> '${TABLE}'`;

const SQLITE_SHAPE = `
SELECT 'column "' || m.name || '"."' || c.name || '"' AS object, CASE WHEN c."notnull" THEN 'not null' ELSE '' END || CASE WHEN c.pk > 0 THEN ' pk' ELSE '' END AS definition
  FROM sqlite_master m, pragma_table_info(m.name) c
 WHERE m.type = 'table' AND ${NOT_SQLITE_INTERNAL}
UNION ALL
SELECT 'index "' || i.name || '" on "' || m.name || '"', CASE WHEN i."unique" THEN 'unique' ELSE '' END
  FROM sqlite_master m, pragma_index_list(m.name) i
 WHERE m.type = 'table' AND ${NOT_SQLITE_INTERNAL} AND i.origin = 'c'
UNION ALL
SELECT 'reference "' || m.name || '"."' || f."from" || '"', '"' || f."table" || '"."' || coalesce(f."to", '') || '"'
  FROM sqlite_master m, pragma_foreign_key_list(m.name) f
 WHERE m.type = 'table' AND ${NOT_SQLITE_INTERNAL}
UNION ALL
SELECT m.type || ' "' || m.name || '"', m.sql
  FROM sqlite_master m
 WHERE m.type IN ('trigger', 'view') AND ${NOT_SQLITE_INTERNAL}`;

/** Every object's own text, as this database keeps it (see PG_DETAIL_ROWS). */
const SQLITE_DETAILS = `SELECT 'definition of ' || m.type || ' "' || m.name || '"' AS object, m.sql AS definition FROM sqlite_master m WHERE ${NOT_SQLITE_INTERNAL}`;

/**
 * $1: the schema. Left out: PostgreSQL 18's NOT NULL constraints (the column says it on
 * every major), what an extension created (its version differs between majors), the
 * owner's own privileges (the owner differs between the database and a shadow).
 */
const PG_SCOPE = `
rel AS (
  SELECT c.oid, c.relname, c.relkind, c.relowner, c.relacl, c.relrowsecurity, c.relforcerowsecurity
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = $1 AND c.relname <> '${TABLE}'
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
), fn AS (
  SELECT p.oid, p.proname, p.prokind, pg_get_function_identity_arguments(p.oid) AS args,
         CASE WHEN p.prosrc = '' OR p.prosrc IS NULL THEN pg_get_function_sqlbody(p.oid) ELSE p.prosrc END AS body
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname = $1
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
)`;

const PG_SHAPE_ROWS = `
SELECT 'column ' || quote_ident(r.relname) || '.' || quote_ident(a.attname) AS object, format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END AS definition
  FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid
 WHERE r.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'index ' || quote_ident(i.relname) || ' on ' || quote_ident(r.relname), CASE WHEN x.indisunique THEN 'unique' ELSE '' END
  FROM rel r JOIN pg_index x ON x.indrelid = r.oid JOIN pg_class i ON i.oid = x.indexrelid
UNION ALL
SELECT 'constraint ' || quote_ident(k.conname) || ' on ' || quote_ident(r.relname), k.contype::text
  FROM rel r JOIN pg_constraint k ON k.conrelid = r.oid
 WHERE k.contype <> 'n'
UNION ALL
SELECT 'enum ' || quote_ident(t.typname), string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
  FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname = $1
 GROUP BY t.typname
UNION ALL
SELECT CASE r.relkind WHEN 'v' THEN 'view ' ELSE 'materialized view ' END || quote_ident(r.relname), md5(
         (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = r.oid AND a.attnum > 0)
         || ' from ' || coalesce((
         SELECT string_agg(DISTINCT CASE d.refclassid
                  WHEN 'pg_class'::regclass THEN (SELECT quote_ident(t.relname) FROM pg_class t WHERE t.oid = d.refobjid) || coalesce('.' || quote_ident(a.attname), '')
                  WHEN 'pg_proc'::regclass THEN (SELECT quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')' FROM pg_proc p WHERE p.oid = d.refobjid)
                  ELSE (SELECT format_type(d.refobjid, NULL)) END, ', ')
           FROM pg_rewrite w JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
           LEFT JOIN pg_attribute a ON d.refclassid = 'pg_class'::regclass AND a.attrelid = d.refobjid AND a.attnum = d.refobjsubid AND d.refobjsubid > 0
          WHERE w.ev_class = r.oid AND d.refobjid <> r.oid AND d.refclassid IN ('pg_class'::regclass, 'pg_proc'::regclass, 'pg_type'::regclass)), ''))
  FROM rel r WHERE r.relkind IN ('v', 'm')
UNION ALL
SELECT CASE f.prokind WHEN 'p' THEN 'procedure ' WHEN 'a' THEN 'aggregate ' WHEN 'w' THEN 'window function ' ELSE 'function ' END || quote_ident(f.proname) || '(' || f.args || ')', md5(coalesce(f.body, ''))
  FROM fn f
UNION ALL
SELECT 'trigger ' || quote_ident(g.tgname) || ' on ' || quote_ident(r.relname), md5(pg_get_triggerdef(g.oid))
  FROM rel r JOIN pg_trigger g ON g.tgrelid = r.oid
 WHERE NOT g.tgisinternal
UNION ALL
SELECT 'policy ' || quote_ident(p.polname) || ' on ' || quote_ident(r.relname),
       md5(p.polcmd::text || p.polpermissive::text || coalesce((SELECT string_agg(CASE WHEN o = 0 THEN 'public' ELSE pg_get_userbyid(o) END, ',' ORDER BY 1) FROM unnest(p.polroles) o), '')
           || '|' || coalesce(pg_get_expr(p.polqual, p.polrelid), '') || '|' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), ''))
  FROM rel r JOIN pg_policy p ON p.polrelid = r.oid
UNION ALL
SELECT 'row level security on ' || quote_ident(r.relname), CASE WHEN r.relforcerowsecurity THEN 'forced' ELSE 'enabled' END
  FROM rel r WHERE r.relrowsecurity
UNION ALL
SELECT 'extension ' || quote_ident(x.extname), ''
  FROM pg_extension x WHERE x.extname <> 'plpgsql'
UNION ALL
SELECT 'sequence ' || quote_ident(r.relname), coalesce((
         SELECT 'owned by ' || quote_ident(t.relname) || '.' || quote_ident(a.attname)
           FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
          WHERE d.classid = 'pg_class'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
          LIMIT 1), '')
  FROM rel r WHERE r.relkind = 'S'
UNION ALL
SELECT 'grant on ' || quote_ident(r.relname) || ' to ' || CASE WHEN g.grantee = 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(g.grantee)) END,
       string_agg(g.privilege_type || CASE WHEN g.is_grantable THEN ' with grant option' ELSE '' END, ', ' ORDER BY g.privilege_type)
  FROM rel r, aclexplode(r.relacl) g
 WHERE g.grantee <> r.relowner
 GROUP BY r.relname, g.grantee
UNION ALL
SELECT 'comment on ' || CASE WHEN d.objsubid = 0 THEN quote_ident(r.relname) ELSE 'column ' || quote_ident(r.relname) || '.' || quote_ident(a.attname) END, md5(d.description)
  FROM rel r JOIN pg_description d ON d.classoid = 'pg_class'::regclass AND d.objoid = r.oid
  LEFT JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = d.objsubid AND d.objsubid > 0
UNION ALL
SELECT 'comment on function ' || quote_ident(f.proname) || '(' || f.args || ')', md5(d.description)
  FROM fn f JOIN pg_description d ON d.classoid = 'pg_proc'::regclass AND d.objoid = f.oid`;

const POSTGRES_SHAPE = `WITH ${PG_SCOPE} ${PG_SHAPE_ROWS}`;

/**
 * What a migration may change that the shape leaves to the engine, or reads in a form
 * every major shares: spelled as this server spells it, so only ever compared with the
 * same server's, to tell whether a migration changed anything at all.
 */
const PG_DETAIL_ROWS = `
SELECT 'default of ' || quote_ident(r.relname) || '.' || quote_ident(a.attname), pg_get_expr(d.adbin, d.adrelid)
  FROM rel r JOIN pg_attrdef d ON d.adrelid = r.oid JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = d.adnum
UNION ALL
SELECT 'definition of constraint ' || quote_ident(k.conname) || ' on ' || quote_ident(r.relname), pg_get_constraintdef(k.oid)
  FROM rel r JOIN pg_constraint k ON k.conrelid = r.oid
UNION ALL
SELECT 'definition of index ' || quote_ident(i.relname), pg_get_indexdef(i.oid)
  FROM rel r JOIN pg_index x ON x.indrelid = r.oid JOIN pg_class i ON i.oid = x.indexrelid
UNION ALL
SELECT 'definition of view ' || quote_ident(r.relname), pg_get_viewdef(r.oid)
  FROM rel r WHERE r.relkind IN ('v', 'm')
UNION ALL
SELECT 'definition of type ' || quote_ident(t.typname), t.typtype::text || ' ' || format_type(t.typbasetype, t.typtypmod) || coalesce(' default ' || t.typdefault, '')
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname = $1 AND t.typtype IN ('d', 'c', 'r')`;

export async function readShape(conn: SqlConnection): Promise<Shape> {
  const rows =
    conn.target.provider === 'sqlite'
      ? await conn.query<{ object: string; definition: string | null }>(SQLITE_SHAPE)
      : await conn.query<{ object: string; definition: string | null }>(POSTGRES_SHAPE, [conn.target.schema]);
  return new Map(rows.map((row) => [row.object, conn.target.provider === 'sqlite' && /^(trigger|view) /.test(row.object) ? sqliteText(row.definition ?? '') : (row.definition ?? '')]));
}

/**
 * SQLite keeps a trigger's or view's text as written: the same definition may differ in
 * spacing, or in its quotes (the kit runs double-quoted strings as single-quoted ones).
 */
function sqliteText(definition: string): string {
  return createHash('md5').update(definition.replace(/\s+/g, ' ').replace(/"/g, "'").trim()).digest('hex');
}

/**
 * What a database may hold beside its history without differing from it: extensions
 * (a managed server installs its own), grants to its other roles, comments. Only when
 * the history has no such object; one it has must be the same.
 */
const KEPT_EXTRAS = /^(extension|grant on|comment on) /;
const KEPT_EXTRAS_SQL = `'^(extension|grant on|comment on) '`;

/** How many (object, definition) pairs differ between what a history yields and a database: 0 when the database holds that history. */
export function shapeDistance(history: Shape, database: Shape): number {
  let distance = 0;
  for (const [object, definition] of history) if (database.get(object) !== definition) distance++;
  for (const [object, definition] of database) if (history.get(object) !== definition && (history.has(object) || !KEPT_EXTRAS.test(object))) distance++;
  return distance;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.size === b.size && [...a].every(([object, definition]) => b.get(object) === definition);
}

/** A replay’s distance from a database’s shape and a digest of it: what a replay reads after each migration. */
export interface ShapeProbe {
  distance: number;
  /** Equal digests: equal shapes. */
  digest: string;
}

/**
 * Read the shape of `conn` (a replay) against a database's, again and again (after each
 * migration). PostgreSQL compares on the server, with the database's in a temporary table
 * of the session: one row comes back, however large the schema.
 */
export async function shapeProbe(conn: SqlConnection, database: Shape): Promise<() => Promise<ShapeProbe>> {
  if (conn.target.provider === 'sqlite') {
    return async () => {
      const shape = await readShape(conn);
      const details = await conn.query<{ object: string; definition: string | null }>(SQLITE_DETAILS);
      return { distance: shapeDistance(shape, database), digest: digestOf(new Map([...shape, ...details.map((row) => [row.object, row.definition ?? ''] as const)])) };
    };
  }
  await conn.exec('CREATE TEMPORARY TABLE rastar_database_shape (object text, definition text)');
  await conn.query('INSERT INTO pg_temp.rastar_database_shape SELECT * FROM unnest($1::text[], $2::text[])', [[...database.keys()], [...database.values()]]);
  const sql = `WITH ${PG_SCOPE}, shape (object, definition) AS (${PG_SHAPE_ROWS}), details (object, definition) AS (${PG_DETAIL_ROWS})
SELECT (SELECT md5(coalesce(string_agg(object || E'\\t' || coalesce(definition, ''), E'\\n' ORDER BY object, definition), '')) FROM (SELECT * FROM shape UNION ALL SELECT * FROM details) everything) AS digest,
       (SELECT count(*) FROM ((SELECT object, coalesce(definition, '') FROM shape EXCEPT SELECT object, definition FROM pg_temp.rastar_database_shape)
                    UNION ALL (SELECT object, definition FROM pg_temp.rastar_database_shape
                                WHERE object !~ ${KEPT_EXTRAS_SQL} OR object IN (SELECT object FROM shape)
                               EXCEPT SELECT object, coalesce(definition, '') FROM shape)) d)::int AS distance`;
  const schema = conn.target.schema;
  return async () => (await conn.query<ShapeProbe>(sql, [schema]))[0] as ShapeProbe;
}

function digestOf(shape: Shape): string {
  const hash = createHash('md5');
  for (const object of [...shape.keys()].sort()) hash.update(`${object}\t${shape.get(object)}\n`);
  return hash.digest('hex');
}

/**
 * One line per object that differs: what the database has that the history does not, and
 * the reverse. `kept: false` leaves out what the database may hold beside its history.
 */
export function shapeDifferences(database: Shape, history: Shape, options: { kept?: boolean } = {}): string[] {
  const lines: string[] = [];
  for (const [object, definition] of database) {
    const kept = KEPT_EXTRAS.test(object);
    if (!history.has(object) && kept && options.kept === false) continue;
    if (!history.has(object)) lines.push(`${kept ? 'only in the database (kept, not a difference)' : 'only in the database'}: ${describe(object, definition)}`);
    else if (history.get(object) !== definition) lines.push(`defined otherwise: ${object}${readable(definition) && readable(history.get(object) as string) ? ` (the database: ${definition || 'none'}; the history: ${history.get(object) || 'none'})` : ''}`);
  }
  for (const [object, definition] of history) if (!database.has(object)) lines.push(`missing from the database: ${describe(object, definition)}`);
  return lines.sort();
}

/** `column "T"."c" (text not null)`; a digest is not worth printing. */
function describe(object: string, definition: string): string {
  return definition && readable(definition) ? `${object} (${definition})` : object;
}

function readable(definition: string): boolean {
  return !/^[0-9a-f]{32}$/.test(definition);
}
