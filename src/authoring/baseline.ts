/**
 * Moving a database built outside the kit onto its history (Flyway's `baseline`): find
 * the longest prefix of the history whose schema is the live schema, and record that
 * prefix as applied. Judged by what the database holds, never by trust:
 * - the history is replayed once, migration by migration, with the kit's own deploy on
 *   a throw-away database (an in-memory-like temp file for SQLite, a database on the
 *   shadow server for PostgreSQL), reading each prefix's shape (shape.ts);
 * - the prefixes shaped like the live database are confirmed, longest first, by Prisma's
 *   engine diffing that prefix with the live database (an empty diff is a match).
 * Finding writes nothing on the target; recording writes the rows in one transaction
 * under the migration lock, after checking that the database is still what was compared.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openConnection, parseDatabaseUrl, withDatabase, type DatabaseTarget, type SqlConnection } from '../db.ts';
import { KitError } from '../errors.ts';
import { deploy } from '../runtime/deploy.ts';
import { assertDeployable, type History } from '../runtime/history.ts';
import { writeUnderMigrationLock } from '../runtime/lock.ts';
import { ensureTable, insertRowSql, readRows, tableExists, userTables } from '../runtime/table.ts';
import { diff, historyTarget, withDatabaseEngine } from './engine.ts';
import { readShape, shapeDistance, type Shape } from './shape.ts';
import { withPostgresServer } from './shadow.ts';
import { lockTimeoutMs } from '../env.ts';

export interface BaselineFinding {
  total: number;
  /** The longest matching prefix: the first `matched` migrations; null when none matches. */
  matched: number | null;
  /** Its last migration. */
  upTo: string | null;
  /** Migrations at the end of the match that change nothing the schema shows (data only): counted as applied. */
  unseen: string[];
  /** When none matches: the prefix nearest to the live schema and the engine's summary of the difference. */
  nearest?: { prefix: number; upTo: string | null; summary: string };
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

  const inShadow = async (shadowServer?: DatabaseTarget & { provider: 'postgresql' }) => {
    const shapes = await replayShapes(target, history, shadowServer, progress);
    // Longest first: where several prefixes match, the later migrations changed no schema.
    const candidates = shapes.flatMap((shape, k) => (shapeDistance(shape, live) === 0 ? [k] : [])).reverse();
    return withDatabaseEngine(target, { readOnly: true, shadowServer }, async (engine, datasource) => {
      for (const k of candidates) {
        progress(`Comparing the first ${k} migrations with the database…`);
        if (!(await diff(engine, historyTarget(prefix(k)), datasource, false)).changed) {
          let first = k;
          while (first > 0 && shapeDistance(shapes[first - 1] as Shape, shapes[k] as Shape) === 0) first--;
          const unseen = history.migrations.slice(first, k).map((m) => m.name);
          return { total, matched: k, upTo: upTo(k), unseen, shape: live };
        }
      }
      // The nearest prefix: the fewest differences in shape, the longest of those.
      let nearest = 0;
      shapes.forEach((shape, k) => {
        if (shapeDistance(shape, live) <= shapeDistance(shapes[nearest] as Shape, live)) nearest = k;
      });
      const summary = (await diff(engine, historyTarget(prefix(nearest)), datasource, false)).output.trim();
      return { total, matched: null, upTo: null, unseen: [], nearest: { prefix: nearest, upTo: upTo(nearest), summary }, shape: live };
    });
  };
  return target.provider === 'sqlite' ? inShadow() : withPostgresServer((server) => inShadow(server), progress);
}

/**
 * Replay the history one migration at a time on a throw-away database with the kit's
 * deploy; the shape after each prefix (index k: the first k migrations, 0 = empty).
 */
async function replayShapes(target: DatabaseTarget, history: History, shadowServer: (DatabaseTarget & { provider: 'postgresql' }) | undefined, progress: Progress): Promise<Shape[]> {
  const throwaway = await createThrowaway(target, shadowServer);
  try {
    const conn = await openConnection(throwaway.target, { applicationName: 'rastar-baseline' });
    try {
      const shapes = [await readShape(conn)];
      const total = history.migrations.length;
      for (let k = 1; k <= total; k++) {
        if (k === 1 || k % 50 === 0 || k === total) progress(`Replaying the history on a shadow database: ${k} of ${total}…`);
        await deploy(conn, { ...history, migrations: history.migrations.slice(0, k) }, { lockTimeoutMs: lockTimeoutMs() });
        shapes.push(await readShape(conn));
      }
      return shapes;
    } finally {
      await conn.close();
    }
  } finally {
    await throwaway.drop();
  }
}

async function createThrowaway(target: DatabaseTarget, server?: DatabaseTarget & { provider: 'postgresql' }): Promise<{ target: DatabaseTarget; drop: () => Promise<void> }> {
  if (target.provider === 'sqlite' || !server) {
    const dir = mkdtempSync(join(tmpdir(), 'rastar-baseline-'));
    return { target: parseDatabaseUrl(`file:${join(dir, 'shadow.db')}`), drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `rastar_baseline_${randomUUID().replace(/-/g, '')}`;
  const onServer = async (sql: string) => {
    const admin = await openConnection(server, { applicationName: 'rastar-baseline' });
    try {
      await admin.exec(sql);
    } finally {
      await admin.close();
    }
  };
  await onServer(`CREATE DATABASE "${name}"`);
  // The target's schema name, so that both shapes name the same schema.
  return { target: { ...withDatabase(server, name), schema: target.schema }, drop: () => onServer(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}

/**
 * Record the finding's prefix as applied, as `prisma migrate resolve --applied` records
 * each: one transaction, under the migration lock, after checking that the database has
 * still no history and the shape that was compared.
 */
export async function recordBaseline(target: DatabaseTarget, history: History, finding: BaselineFinding): Promise<string[]> {
  if (finding.matched === null) throw new KitError('HISTORY', 'No prefix of the history matches the database: nothing to record.');
  const names = history.migrations.slice(0, finding.matched);
  await writeUnderMigrationLock(target, 'rastar-baseline', async (conn) => {
    await assertNeedsBaseline(conn);
    if (shapeDistance(await readShape(conn), finding.shape) !== 0) {
      throw new KitError('HISTORY', 'The database changed while it was compared with the history; nothing was recorded.', { hint: 'Run the baseline again: make baseline' });
    }
    const now = new Date();
    await ensureTable(conn);
    if (names.length) await conn.exec(names.map((m) => insertRowSql(target, { name: m.name, checksum: m.checksum, startedAt: now, finishedAt: now, logs: null, appliedSteps: 0 })).join(';\n'));
  });
  return names.map((m) => m.name);
}
