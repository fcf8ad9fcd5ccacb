/**
 * What a container that does not migrate waits for before it starts: first a
 * reachable database, then a schema that holds every migration of its own
 * folder, finished, none failed. It never starts against an older schema. On
 * PostgreSQL it wakes on the migrator's NOTIFY; polling covers a missed one.
 */
import { describeTarget, dialectOf, openConnection, type DatabaseTarget, type SqlConnection } from '../db.ts';
import { KitError } from '../errors.ts';
import type { History } from './history.ts';
import { behindTransactionPooler } from './pooler.ts';
import { pollUntil } from './poll.ts';
import { assertNoFailed } from './recovery.ts';
import { MIGRATIONS_CHANNEL } from './table.ts';
import { readStatus, type MigrationStatus } from './status.ts';

export interface WaitOptions {
  timeoutMs: number;
  /** Called about every 2 s while waiting, with the seconds waited so far. */
  onHeartbeat?: (waitedSeconds: number, reason: string) => void;
  /** Called once when a transaction pooler is found: the gate polls instead of listening. */
  onPooler?: () => void;
  /** How often to read the history between notifications (default: 1 s on PostgreSQL, 0.1 s on SQLite). */
  pollMs?: number;
}

/** A waiting container says it is still waiting this often. */
const HEARTBEAT_MS = 2000;

/** Retry with backoff until the database answers, or fail with one line naming it. */
export async function waitForDatabase(target: DatabaseTarget, options: WaitOptions & { applicationName?: string }): Promise<SqlConnection> {
  let last: KitError | undefined;
  return pollUntil(
    async () => {
      try {
        return await openConnection(target, { waitMs: 0, applicationName: options.applicationName ?? 'rastar-wait' });
      } catch (error) {
        if (!(error instanceof KitError) || error.code !== 'CONNECTION') throw error;
        if (error.prismaCode === 'P1000' || error.prismaCode === 'P1003') throw error; // refused credentials, no such database: waiting will not help
        last = error;
        return undefined;
      }
    },
    {
      timeoutMs: options.timeoutMs,
      intervalMs: (tries) => Math.min(100 * 2 ** tries, 1000),
      onWait: (waited) => options.onHeartbeat?.(Math.round(waited / 1000), `waiting for ${describeTarget(target)}`),
      reportEveryMs: HEARTBEAT_MS,
      reportAtOnce: false,
      onTimeout: (waited) =>
        new KitError('CONNECTION', `Gave up after ${Math.round(waited / 1000)}s: ${last?.message}`, { cause: last?.cause, prismaCode: 'P1001', hint: 'Check DATABASE_URL (DIRECT_DATABASE_URL when set) and that the server is up; raise DB_WAIT_TIMEOUT for slow starts.' }),
    },
  );
}

export interface GateResult {
  status: MigrationStatus;
  /** Migrations in the database this folder does not know: an older image after a newer deploy. */
  newerInDatabase: string[];
  waitedMs: number;
}

/** True when every migration of the folder is applied; throws when one failed (not one still running). */
function gateOpen(status: MigrationStatus): boolean {
  assertNoFailed(status, 'wait');
  return status.pending.length === 0 && status.failed.length === 0;
}

export async function waitForSchema(conn: SqlConnection, history: History, options: WaitOptions): Promise<GateResult> {
  const started = Date.now();
  // A notification that arrives while the history is being read is kept, so the next pause ends at once.
  let notified = false;
  let wake: () => void = () => (notified = true);
  // LISTEN through a transaction pooler hears nothing: polling alone then.
  const pooled = await behindTransactionPooler(conn);
  if (pooled) options.onPooler?.();
  if (conn.listen && !pooled) await conn.listen(MIGRATIONS_CHANNEL, () => wake());
  let status: MigrationStatus | undefined;
  let waitingFor = '';
  return pollUntil(
    async () => {
      const read = await readStatusUnlessBusy(conn, history);
      if (!read) {
        waitingFor = `the migrator to release the database (locked)${status ? `; ${status.pending.length} migration(s) pending` : ''}`;
        return undefined;
      }
      status = read;
      if (gateOpen(status)) return { status, newerInDatabase: status.unknown, waitedMs: Date.now() - started };
      const waitedFor = [...status.failed.map((f) => f.name), ...status.pending];
      waitingFor = `${waitedFor.length} migration(s): ${abbreviate(waitedFor)}`;
      return undefined;
    },
    {
      timeoutMs: options.timeoutMs,
      intervalMs: options.pollMs ?? (conn.target.provider === 'postgresql' ? 1000 : 100),
      onWait: (waited) => options.onHeartbeat?.(Math.round(waited / 1000), `waiting for ${waitingFor}`),
      reportEveryMs: HEARTBEAT_MS,
      reportAtOnce: false,
      onTimeout: (waited) => {
        const what = status ? `${status.pending.length} migration(s) to be applied: ${status.pending.join(', ')}` : 'the database, locked by a migrator all along';
        return new KitError('GATE_TIMEOUT', `Gave up after ${Math.round(waited / 1000)}s waiting for ${what}`, {
          hint: 'Is a migrating container (RUN_MIGRATIONS=true) running and healthy? Check its logs; raise MIGRATION_WAIT_TIMEOUT for long migrations.',
        });
      },
      // A notification (the migrator committed) cuts the pause short.
      sleep: (ms) =>
        new Promise<void>((done) => {
          if (notified) {
            notified = false;
            return done();
          }
          const timer = setTimeout(() => {
            wake = () => (notified = true);
            done();
          }, ms);
          wake = () => {
            clearTimeout(timer);
            wake = () => (notified = true);
            done();
          };
        }),
    },
  );
}

/**
 * The status, or null while a SQLite migrator keeps the file locked longer than the
 * busy timeout (one long migration, or an exclusive deploy): that means "not yet",
 * not a failure of the container that waits.
 */
async function readStatusUnlessBusy(conn: SqlConnection, history: History): Promise<MigrationStatus | null> {
  try {
    return await readStatus(conn, history);
  } catch (error) {
    if (dialectOf(conn.target).isBusy(error)) return null;
    throw error;
  }
}

/** A heartbeat every 2 s must stay one readable line, even with hundreds of pending migrations. */
function abbreviate(names: string[], shown = 3): string {
  return names.length <= shown ? names.join(', ') : `${names.slice(0, shown).join(', ')}, … (${names.length - shown} more)`;
}
