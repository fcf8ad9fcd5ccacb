/**
 * A history replayed on a throw-away database, one migration at a time, with the kit's
 * own deploy: each migration runs exactly as it deploys (transactional, statement by
 * statement, or self-managed). Baseline and repair compare a database with what each
 * prefix leaves there. A migration that fails here failed on the throw-away database
 * only: the replay stops and says so, and the prefixes before it stay usable.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openConnection, parseDatabaseUrl, withDatabase, type DatabaseTarget, type SqlConnection } from '../db.ts';
import { errorMessage } from '../errors.ts';
import { deploy } from '../runtime/deploy.ts';
import type { History } from '../runtime/history.ts';
import { readShape, shapeProbe, type Shape, type ShapeProbe } from './shape.ts';
import { lockTimeoutMs } from '../env.ts';

export type PostgresServer = DatabaseTarget & { provider: 'postgresql' };

/** A migration that did not replay on the shadow database. */
export interface ShadowFailure {
  name: string;
  /** 1-based: the migration's place in the history. */
  position: number;
  /** The database's error and the statement. */
  reason: string;
}

export interface Replay {
  /** How many migrations replayed: the first `replayed`. */
  replayed: number;
  failure: ShadowFailure | null;
}

/**
 * Replay the first `upTo` migrations (all by default), calling `after(k, conn)` on the
 * empty database (k = 0) and after each migration k. The throw-away database is dropped
 * after, failure or not.
 */
async function replayHistory(
  target: DatabaseTarget,
  history: History,
  server: PostgresServer | undefined,
  options: { upTo?: number; progress?: (line: string) => void; after: (k: number, conn: SqlConnection) => Promise<void>; beforeDrop?: () => Promise<void> },
): Promise<Replay> {
  const total = options.upTo ?? history.migrations.length;
  return withThrowaway(target, server, async (conn) => {
    await options.after(0, conn);
    let failure: ShadowFailure | null = null;
    let k = 1;
    for (; k <= total; k++) {
      if (k === 1 || k % 50 === 0 || k === total) options.progress?.(`Replaying the history on a shadow database: ${k} of ${total}…`);
      try {
        await deploy(conn, { ...history, migrations: history.migrations.slice(0, k) }, { lockTimeoutMs: lockTimeoutMs(), ddlLockTimeoutMs: 0 });
      } catch (error) {
        const name = (history.migrations[k - 1] as { name: string }).name;
        failure = { name, position: k, reason: shadowReason(name, error) };
        break;
      }
      await options.after(k, conn);
    }
    await options.beforeDrop?.();
    return { replayed: k - 1, failure };
  });
}

export interface ComparedReplay extends Replay {
  /** probes[k]: the shape after the first k migrations against the database’s. */
  probes: ShapeProbe[];
  /** The shape after the last migration replayed. */
  last: Shape;
}

/** Replay the history (or its first `upTo` migrations), comparing the shape after each migration with `database`. */
export async function compareReplay(
  target: DatabaseTarget,
  history: History,
  server: PostgresServer | undefined,
  database: Shape,
  options: { upTo?: number; progress?: (line: string) => void } = {},
): Promise<ComparedReplay> {
  const probes: ShapeProbe[] = [];
  let probe: () => Promise<ShapeProbe> = async () => ({ distance: 0, digest: '' });
  let last: Shape = new Map();
  let lastConn: SqlConnection | undefined;
  const replay = await replayHistory(target, history, server, {
    ...options,
    after: async (k, conn) => {
      if (k === 0) probe = await shapeProbe(conn, database);
      probes.push(await probe());
      lastConn = conn;
    },
    // The last shape in full, before the throw-away database goes.
    beforeDrop: async () => {
      if (lastConn) last = await readShape(lastConn);
    },
  });
  return { ...replay, probes, last };
}

/** The migrations among the first `count` after which the shape was what it was before: their effect is not compared. */
export function unchangedBy(history: History, probes: ShapeProbe[], count: number): string[] {
  return history.migrations.slice(0, count).flatMap((m, i) => (probes[i + 1]?.digest === probes[i]?.digest ? [m.name] : []));
}

/** Deploy's words for the failure, less what they say of the database it ran on (recorded, resolve). */
function shadowReason(name: string, error: unknown): string {
  const message = errorMessage(error).split('\n')[0] as string;
  const prefix = `Migration ${name} failed: `;
  const reason = message.startsWith(prefix) ? message.slice(prefix.length) : message;
  return reason.replace(/\. (It ran|Nothing of it)[^]*$/, '');
}

/** `Migration X (number 492) does not replay on a shadow database: …`: the target is never where this happened. */
export function describeShadowFailure(failure: ShadowFailure): string {
  return `Migration ${failure.name} (number ${failure.position}) does not replay on a shadow database: ${failure.reason}. Only the throw-away shadow database ran it; the target database was not touched.`;
}

/** A throw-away database: a temporary file for SQLite, a database on `server` for PostgreSQL. */
async function withThrowaway<T>(target: DatabaseTarget, server: PostgresServer | undefined, work: (conn: SqlConnection) => Promise<T>): Promise<T> {
  if (target.provider === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'rastar-shadow-'));
    try {
      return await withConnection(parseDatabaseUrl(`file:${join(dir, 'shadow.db')}`), work);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (!server) throw new Error('a PostgreSQL history replays on a PostgreSQL server');
  const name = `rastar_shadow_${randomUUID().replace(/-/g, '')}`;
  await withConnection(server, (admin) => admin.exec(`CREATE DATABASE "${name}"`));
  try {
    // The target's schema name, so that both shapes name the same schema.
    return await withConnection({ ...withDatabase(server, name), schema: target.schema }, work);
  } finally {
    await withConnection(server, (admin) => admin.exec(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  }
}

async function withConnection<T>(target: DatabaseTarget, work: (conn: SqlConnection) => Promise<T>): Promise<T> {
  const conn = await openConnection(target, { applicationName: 'rastar-shadow' });
  try {
    return await work(conn);
  } finally {
    await conn.close();
  }
}
