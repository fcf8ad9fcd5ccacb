/**
 * PostgreSQL: who keeps a migration from taking its table locks. A migration that
 * waits longer than a moment is looked at from a second connection
 * (pg_blocking_pids of its backend); the common case, a migration that never waits,
 * costs a timer and nothing else.
 */
import { openConnection, type DatabaseTarget } from '../db.ts';

export interface Blocker {
  pid: number;
  applicationName: string;
  state: string;
  /** When its transaction (or, outside one, its query) began: ISO 8601. */
  since: string | null;
  /** The first line of its current or last query. */
  query: string;
}

const BLOCKERS_SQL = `SELECT pid, application_name, state, coalesce(xact_start, query_start) AS since, split_part(query, E'\\n', 1) AS query
  FROM pg_stat_activity WHERE pid = ANY (pg_blocking_pids($1)) ORDER BY pid`;

/** Start watching `backend`; `stop()` ends it and gives the blockers seen (none if it never waited `afterMs`). */
export function watchBlockers(target: DatabaseTarget, backend: number, afterMs: number): { stop(): Promise<Blocker[]> } {
  let seen: Blocker[] = [];
  let looking: Promise<void> | undefined;
  const timer = setTimeout(() => {
    looking = (async () => {
      const conn = await openConnection(target, { applicationName: 'rastar-migrate-watch', waitMs: 0 });
      try {
        const rows = await conn.query<{ pid: number; application_name: string; state: string | null; since: Date | string | null; query: string | null }>(BLOCKERS_SQL, [backend]);
        seen = rows.map((r) => ({
          pid: Number(r.pid),
          applicationName: r.application_name ?? '',
          state: r.state ?? 'unknown',
          since: r.since === null ? null : new Date(r.since).toISOString(),
          query: (r.query ?? '').slice(0, 120),
        }));
      } finally {
        await conn.close();
      }
    })().catch(() => {}); // a report that cannot be made must not fail the migration
  }, afterMs);
  timer.unref();
  return {
    async stop() {
      clearTimeout(timer);
      await looking;
      return seen;
    },
  };
}

export function describeBlocker(b: Blocker): string {
  return `pid ${b.pid} "${b.applicationName}" ${b.state}${b.since ? ` since ${b.since}` : ''}${b.query ? `: ${b.query}` : ''}`;
}
