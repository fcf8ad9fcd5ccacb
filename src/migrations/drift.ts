/**
 * The live database against the schema its history must produce (the source
 * schema for that provider), through Prisma's engine: a readable summary for
 * checks, a script for repairs. Describing the database writes nothing.
 */
import { createMigrationAdapterFactory, type DatabaseTarget, type Provider } from '../db.ts';
import { diff, openEngine } from './engine.ts';
import { schemaFor } from './schema.ts';
import { findWord, nameAt, parseScript, startsWith, wordsAt, type Token } from './sql-script.ts';

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

/**
 * Split a repair script: statements that only add (tables, columns, indexes,
 * constraints, types) are safe to replay on a damaged database; the rest is not.
 */
export function splitAdditive(script: string, provider: Provider): { additive: string[]; other: string[] } {
  const additive: string[] = [];
  const other: string[] = [];
  for (const { text, tokens } of parseScript(script, provider)) {
    if (startsWith(tokens, 'PRAGMA')) continue;
    (isAdditive(tokens) ? additive : other).push(text);
  }
  return { additive, other };
}

function isAdditive(tokens: Token[]): boolean {
  if (startsWith(tokens, 'CREATE', 'INDEX') || startsWith(tokens, 'CREATE', 'UNIQUE', 'INDEX') || startsWith(tokens, 'CREATE', 'TYPE')) return true;
  // Prisma's SQLite table redefinition starts with CREATE TABLE "new_…": a rewrite, not an addition.
  if (startsWith(tokens, 'CREATE', 'TABLE')) return !/^new_/i.test(nameAt(tokens, 2)?.name ?? '');
  if (!startsWith(tokens, 'ALTER', 'TABLE')) return false;
  const table = nameAt(tokens, 2);
  return table !== null && wordsAt(tokens, table.next, 'ADD') && findWord(tokens, 'DROP', table.next) === -1;
}
