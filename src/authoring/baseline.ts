/**
 * Moving a database built outside the kit onto its history (Flyway's `baseline`): find
 * the longest prefix of the history whose schema is the live schema, and record that
 * prefix as applied. Judged by what the database holds, never by trust:
 * - the history is replayed once, migration by migration, with the kit's own deploy on
 *   a throw-away database (replay.ts), the shape after each prefix compared with the
 *   live one (shape.ts: what a schema means, the same on every PostgreSQL major);
 * - the prefixes shaped like the live database are confirmed, longest first, by Prisma's
 *   engine diffing that prefix with the live database (an empty diff is a match).
 * A matched migration after which the shape did not change (data only, or objects the
 * comparison does not see) proves nothing: it is named, and recorded only when accepted
 * by name. A migration that does not replay ends the comparison there; the prefixes
 * before it are still proposed.
 * Finding writes nothing on the target; recording writes the rows in one transaction
 * under the migration lock, after checking that the database is still what was compared.
 */
import { openConnection, type DatabaseTarget, type SqlConnection } from '../db.ts';
import { KitError } from '../errors.ts';
import { assertDeployable, type History, type Migration } from '../runtime/history.ts';
import { writeUnderMigrationLock } from '../runtime/lock.ts';
import { scanStatements } from '../runtime/sql-script.ts';
import { ensureTable, insertRowSql, readRows, tableExists, userTables } from '../runtime/table.ts';
import { diff, historyTarget, withDatabaseEngine } from './engine.ts';
import { compareReplay, unchangedBy, type PostgresServer, type ShadowFailure } from './replay.ts';
import { readShape, sameShape, shapeDifferences, type Shape } from './shape.ts';
import { withPostgresServer } from './shadow.ts';

export interface BaselineFinding {
  total: number;
  /** The longest matching prefix: the first `matched` migrations; null when none matches. */
  matched: number | null;
  /** Its last migration. */
  upTo: string | null;
  /** Matched migrations the comparison cannot see (the shape is the same before and after them): recorded only when accepted by name. */
  unverified: string[];
  /** Matched migrations that change data beside the schema: their schema is verified, their data cannot be. */
  dataChanges: string[];
  /** When none matches: the prefix nearest to the live schema, what differs (one line each), and the engine's summary. */
  nearest?: { prefix: number; upTo: string | null; differences: string[]; summary: string };
  /** The migration that did not replay on the shadow database: only the prefixes before it were compared. */
  shadowFailure: ShadowFailure | null;
  /** The live shape the finding was made on, to re-check before writing. */
  shape: Shape;
}

export type Progress = (line: string) => void;

/** Refuse what a baseline is not for: a database that has a history, or no tables. */
async function assertNeedsBaseline(conn: SqlConnection): Promise<void> {
  if ((await tableExists(conn)) && (await readRows(conn)).length > 0) {
    throw new KitError('HISTORY', 'The database already has a migration history; a baseline is for a database without one.', {
      hint: 'To realign the rows of an existing history with the folder: make repair',
    });
  }
  if ((await userTables(conn)).length === 0) {
    throw new KitError('HISTORY', 'The database has no tables: there is nothing to baseline.', { hint: 'Apply the history with: make deploy' });
  }
}

export async function findBaseline(target: DatabaseTarget, history: History, progress: Progress = () => {}): Promise<BaselineFinding> {
  assertDeployable(history);
  const conn = await openConnection(target, { applicationName: 'rastar-baseline', readonly: true });
  let live: Shape;
  try {
    await assertNeedsBaseline(conn);
    live = await readShape(conn);
  } finally {
    await conn.close();
  }
  const total = history.migrations.length;
  const prefix = (k: number): History => ({ ...history, migrations: history.migrations.slice(0, k) });
  const upTo = (k: number) => history.migrations[k - 1]?.name ?? null;

  const inShadow = async (server?: PostgresServer): Promise<BaselineFinding> => {
    const { probes, failure } = await compareReplay(target, history, server, live, { progress });
    const found = { total, shadowFailure: failure, shape: live };
    // Longest first: where several prefixes match, the later migrations changed no schema.
    const candidates = probes.flatMap((probe, k) => (probe.distance === 0 ? [k] : [])).reverse();
    const matched = await withDatabaseEngine(target, { readOnly: true, shadowServer: server }, async (engine, datasource) => {
      for (const k of candidates) {
        progress(`Comparing the first ${k} migrations with the database…`);
        if (!(await diff(engine, historyTarget(prefix(k)), datasource, false)).changed) return k;
      }
      return null;
    });
    if (matched !== null) {
      const unverified = unchangedBy(history, probes, matched);
      const dataChanges = history.migrations.slice(0, matched).filter((m) => !unverified.includes(m.name) && changesData(m, target.provider)).map((m) => m.name);
      return { ...found, matched, upTo: upTo(matched), unverified, dataChanges };
    }
    // The nearest prefix: the fewest differences, the longest of those; replayed again to name them.
    let nearest = 0;
    probes.forEach((probe, k) => {
      if (probe.distance <= (probes[nearest] as { distance: number }).distance) nearest = k;
    });
    progress(`Naming what differs from the first ${nearest} migrations…`);
    const { last } = await compareReplay(target, history, server, live, { upTo: nearest });
    const summary = await withDatabaseEngine(target, { readOnly: true, shadowServer: server }, async (engine, datasource) => {
      const result = await diff(engine, historyTarget(prefix(nearest)), datasource, false);
      return result.changed ? result.output.trim() : '';
    });
    return { ...found, matched: null, upTo: null, unverified: [], dataChanges: [], nearest: { prefix: nearest, upTo: upTo(nearest), differences: shapeDifferences(live, last), summary } };
  };
  return target.provider === 'sqlite' ? inShadow() : withPostgresServer((server) => inShadow(server), progress);
}

/** Statements whose effect is on rows, not on the schema. */
const DATA_STATEMENTS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'COPY', 'TRUNCATE', 'REPLACE']);

function changesData(migration: Migration, provider: DatabaseTarget['provider']): boolean {
  for (const { tokens } of scanStatements(migration.script, provider)) {
    const first = tokens[0]?.value ?? '';
    // `WITH … UPDATE`: a data-modifying common table expression.
    if (DATA_STATEMENTS.has(first) || (first === 'WITH' && tokens.some((t) => t.kind === 'word' && DATA_STATEMENTS.has(t.value)))) return true;
  }
  return false;
}

/**
 * Record the finding's prefix as applied, as `prisma migrate resolve --applied` records
 * each: one transaction, under the migration lock, after checking that the database has
 * still no history and the shape that was compared.
 */
export async function recordBaseline(target: DatabaseTarget, history: History, finding: BaselineFinding, acceptUnverified: string[] = []): Promise<string[]> {
  if (finding.matched === null) throw new KitError('HISTORY', 'No prefix of the history matches the database: nothing to record.');
  assertAccepted(finding.unverified, acceptUnverified, 'baseline CONFIRM=1');
  const names = history.migrations.slice(0, finding.matched);
  await writeUnderMigrationLock(target, 'rastar-baseline', async (conn) => {
    await assertNeedsBaseline(conn);
    if (!sameShape(await readShape(conn), finding.shape)) {
      throw new KitError('HISTORY', 'The database changed while it was compared with the history; nothing was recorded.', { hint: 'Run the baseline again: make baseline' });
    }
    const now = new Date();
    await ensureTable(conn);
    if (names.length) await conn.exec(names.map((m) => insertRowSql(target, { name: m.name, checksum: m.checksum, startedAt: now, finishedAt: now, logs: null, appliedSteps: 0 })).join(';\n'));
  });
  return names.map((m) => m.name);
}

/**
 * Unverified migrations are recorded only when each is accepted by name; a name that is
 * not unverified is a typo, refused too, so that an acceptance never covers more than it says.
 */
export function assertAccepted(unverified: string[], accepted: string[], command: string): void {
  const stray = accepted.filter((name) => !unverified.includes(name));
  if (stray.length) {
    throw new KitError('BAD_USAGE', `--accept-unverified names ${stray.join(', ')}, which ${stray.length === 1 ? 'is' : 'are'} not unverified here (unverified: ${unverified.join(', ') || 'none'})`);
  }
  const missing = unverified.filter((name) => !accepted.includes(name));
  if (missing.length) {
    throw new KitError('REFUSED', `${missing.length} migration${missing.length === 1 ? '' : 's'} cannot be verified: the schema is the same before and after ${missing.length === 1 ? 'it' : 'them'} (data only, or objects the comparison does not see): ${missing.join(', ')}. Nothing was recorded.`, {
      hint: `If ${missing.length === 1 ? 'it' : 'each of them'} did run on this database (check by hand), accept ${missing.length === 1 ? 'it' : 'them'} by name: ${acceptCommand(command, unverified)}`,
    });
  }
}

/** `make baseline CONFIRM=1 ACCEPT_UNVERIFIED=a,b`, quoted for the shell when a name needs it (folder names may hold spaces). */
export function acceptCommand(command: string, unverified: string[]): string {
  const names = unverified.join(',');
  return `make ${command}${unverified.length ? ` ACCEPT_UNVERIFIED=${/^[\w.,:@%+=-]+$/.test(names) ? names : `'${names.replace(/'/g, `'\\''`)}'`}` : ''}`;
}
