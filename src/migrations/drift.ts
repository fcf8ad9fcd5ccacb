/**
 * The live database against the schema its history must produce (the source
 * schema for that provider), through Prisma's engine: a readable summary for
 * checks, a script for repairs. Describing the database writes nothing.
 */
import { createMigrationAdapterFactory, type DatabaseTarget } from '../db.ts';
import { diff, openEngine } from './engine.ts';
import { schemaFor } from './schema.ts';
import { normalize, splitStatements } from './sql-script.ts';

export interface Drift {
  drifted: boolean;
  /** Prisma's human-readable summary ("[+] Added tables", …), empty when in sync. */
  summary: string;
  /** The SQL that would bring the live database to the schema. */
  script: string;
}

export async function liveDrift(target: DatabaseTarget, options: { readOnly?: boolean } = {}): Promise<Drift> {
  const schema = schemaFor(target.provider);
  const files = [{ path: schema.path, content: schema.text }];
  const engine = await openEngine(schema.path, schema.text, await createMigrationAdapterFactory(target, options));
  try {
    const live = { tag: 'schemaDatasource' as const, files, configDir: '.' };
    const desired = { tag: 'schemaDatamodel' as const, files };
    const summary = await diff(engine, live, desired, false);
    if (!summary.changed) return { drifted: false, summary: '', script: '' };
    const script = await diff(engine, live, desired, true);
    return { drifted: true, summary: summary.output.trim(), script: script.output };
  } finally {
    await engine.close();
  }
}

/** Statements that only add (tables, columns, indexes, constraints, types): safe to replay on a damaged database. */
const ADDITIVE = [/^CREATE (UNIQUE )?INDEX\b/, /^CREATE TABLE\b/, /^CREATE TYPE\b/, /^ALTER TABLE "(?:[^"]|"")+" ADD (COLUMN|CONSTRAINT)\b/, /^ALTER TABLE "(?:[^"]|"")+" ADD (?!.*\bDROP\b)/];

export function splitAdditive(script: string): { additive: string[]; other: string[] } {
  const additive: string[] = [];
  const other: string[] = [];
  for (const statement of splitStatements(script)) {
    const text = normalize(statement);
    if (/^PRAGMA\b/.test(text)) continue;
    (ADDITIVE.some((pattern) => pattern.test(text)) && !/^CREATE TABLE "NEW_/.test(text) ? additive : other).push(statement);
  }
  return { additive, other };
}

/** One readable line for a statement: comments dropped, whitespace collapsed, cut at 100 characters. */
export function statementLine(statement: string): string {
  const text = statement.replace(/--[^\n]*/g, ' ').replace(/\s+/g, ' ').trim();
  return text.length > 100 ? `${text.slice(0, 97)}…` : text;
}
