/**
 * The live database against the schema its history must produce (the source
 * schema for that provider), through Prisma's engine: a readable summary for
 * checks, a script for repairs. Describing the database writes nothing.
 */
import { openConnection, type DatabaseTarget, type Provider } from '../db.ts';
import { KitError } from '../errors.ts';
import { diff, historyTarget, withSchemaEngine } from './engine.ts';
import type { History } from '../runtime/history.ts';
import { compareReplay, describeShadowFailure, type PostgresServer } from './replay.ts';
import { readShape, shapeDifferences } from './shape.ts';
import { findWord, nameAt, scanStatements, startsWith, wordsAt, type Token } from '../runtime/sql-script.ts';

export interface Drift {
  drifted: boolean;
  /** Prisma's human-readable summary ("[+] Added tables", …), empty when in sync. */
  summary: string;
  /** The SQL that would bring the live database to the schema. */
  script: string;
}

export async function liveDrift(target: DatabaseTarget, options: { readOnly?: boolean } = {}): Promise<Drift> {
  return withSchemaEngine(target, options, async (engine, { datasource, datamodel }) => {
    const summary = await diff(engine, datasource, datamodel, false);
    if (!summary.changed) return { drifted: false, summary: '', script: '' };
    const script = await diff(engine, datasource, datamodel, true);
    return { drifted: true, summary: summary.output.trim(), script: script.output };
  });
}

/** Why the live database differs from schema.prisma, told apart by replaying the history on a shadow database. */
export type DriftCause =
  /** The history yields schema.prisma; the database differs from it: changed by hand. */
  | { kind: 'database'; summary: string }
  /** The database is what the history yields; schema.prisma has changes no migration holds. */
  | { kind: 'unmigrated'; summary: string }
  | { kind: 'both'; database: string; unmigrated: string };

/**
 * Compare the history's result with the live database and with schema.prisma. Read-only
 * on the target: the history is replayed on `server` (PostgreSQL) or in memory (SQLite).
 */
export async function explainDrift(target: DatabaseTarget, history: History, server?: PostgresServer): Promise<DriftCause> {
  return withSchemaEngine(target, { readOnly: true, shadowServer: server }, async (engine, { datasource, datamodel }): Promise<DriftCause> => {
    const migrations = historyTarget(history);
    const unmigrated = await diff(engine, migrations, datamodel, false);
    const database = await diff(engine, datasource, migrations, false);
    if (database.changed && unmigrated.changed) return { kind: 'both', database: database.output.trim(), unmigrated: unmigrated.output.trim() };
    if (unmigrated.changed) return { kind: 'unmigrated', summary: unmigrated.output.trim() };
    return { kind: 'database', summary: database.output.trim() };
  });
}

/** The kinds of object Prisma's diff does not compare; the rest is the engine's to judge. */
const BEYOND_PRISMA = /^(function|procedure|aggregate|window function|trigger|view|materialized view|policy|row level security|extension|sequence|grant on|comment on) /;

/**
 * What the live database holds or lacks, of what Prisma's diff does not compare
 * (triggers, functions, views, policies, grants, …), against the history replayed on a
 * shadow as deploy runs it: one line per object. Read-only on the target.
 */
export async function objectDrift(target: DatabaseTarget, history: History, server?: PostgresServer): Promise<string[]> {
  const conn = await openConnection(target, { applicationName: 'rastar-check', readonly: true });
  let live;
  try {
    live = await readShape(conn);
  } finally {
    await conn.close();
  }
  const replay = await compareReplay(target, history, server, live);
  if (replay.failure) throw new KitError('SHADOW', describeShadowFailure(replay.failure));
  if ((replay.probes.at(-1)?.distance ?? 0) === 0) return [];
  return shapeDifferences(live, replay.last, { kept: false }).filter((line) => BEYOND_PRISMA.test(line.slice(line.indexOf(': ') + 2)));
}

/**
 * Split a repair script: statements that only add (tables, columns, indexes,
 * constraints, types) are safe to replay on a damaged database; the rest is not.
 */
export function splitAdditive(script: string, provider: Provider): { additive: string[]; other: string[] } {
  const additive: string[] = [];
  const other: string[] = [];
  for (const { text, tokens } of scanStatements(script, provider)) {
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
