/**
 * What the panel knows about migrations: one short read-only look at the history
 * table, compared with the folder this image ships. Readiness (/readyz) and the
 * migrations page both come from it.
 */
import { maskSecrets, openConnection, type DatabaseTarget } from '../../db.ts';
import { errorMessage } from '../../errors.ts';
import { readHistory, type History } from '../../runtime/history.ts';
import { compareHistory, type MigrationStatus } from '../../runtime/status.ts';
import { readRows, tableExists, type MigrationRow } from '../../runtime/table.ts';

export type MigrationState = 'applied' | 'pending' | 'failed' | 'running' | 'edited' | 'unknown';

/** What one look at the database found; `error` when it could not be reached. */
export interface Snapshot {
  history: History;
  status?: MigrationStatus;
  rows: MigrationRow[];
  error?: string;
}

export interface MigrationLine {
  name: string;
  state: MigrationState | '?';
  /** The row that decides the state (the live one, else the latest). */
  row?: MigrationRow;
}

export async function snapshot(target: DatabaseTarget, migrationsDir?: string): Promise<Snapshot> {
  const history = readHistory(target.provider, migrationsDir);
  let conn;
  try {
    // No retries: a probe must answer now; the orchestrator asks again.
    conn = await openConnection(target, { readonly: true, waitMs: 0, applicationName: 'rastar-admin-panel' });
    const hasTable = await tableExists(conn);
    const rows = hasTable ? await readRows(conn) : [];
    return { history, rows, status: compareHistory(history.migrations, rows, hasTable) };
  } catch (error) {
    return { history, rows: [], error: maskSecrets(errorMessage(error), target) };
  } finally {
    await conn?.close();
  }
}

/** Ready means: reachable, every migration of this image applied, none failed (the gate's rule). */
export function notReadyReason(snap: Snapshot): string | undefined {
  if (snap.error !== undefined || !snap.status) return `database unreachable: ${snap.error ?? 'unknown error'}`;
  const { failed, pending } = snap.status;
  if (failed.length) return `migration${failed.length > 1 ? 's' : ''} ${failed.map((f) => f.name).join(', ')} failed`;
  if (pending.length) return `${pending.length} pending migration${pending.length > 1 ? 's' : ''}: ${pending.join(', ')}`;
  return undefined;
}

/** Every migration of the folder in order, then failed or applied ones the folder does not have. */
export function migrationLines(snap: Snapshot): MigrationLine[] {
  const status = snap.status;
  const rowOf = (name: string) => {
    const rows = snap.rows.filter((r) => r.migration_name === name);
    return rows.find((r) => r.rolled_back_at === null) ?? rows.at(-1);
  };
  if (!status) return snap.history.migrations.map((m) => ({ name: m.name, state: '?' }));
  const failed = new Map(status.failed.map((f) => [f.name, f]));
  const state = (name: string): MigrationState => {
    if (status.edited.includes(name)) return 'edited';
    if (status.applied.includes(name)) return 'applied';
    const failure = failed.get(name);
    if (failure) return failure.running ? 'running' : 'failed';
    return 'pending';
  };
  const lines: MigrationLine[] = snap.history.migrations.map(({ name }) => ({ name, state: state(name), row: rowOf(name) }));
  const extraFailed = [...failed.values()].filter((f) => !lines.some((l) => l.name === f.name));
  lines.push(...extraFailed.map((f) => ({ name: f.name, state: (f.running ? 'running' : 'failed') as MigrationState, row: rowOf(f.name) })));
  lines.push(...status.unknown.map((name) => ({ name, state: 'unknown' as const, row: rowOf(name) })));
  return lines;
}
