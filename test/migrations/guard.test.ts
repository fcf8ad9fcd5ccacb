/**
 * The guard every history write begins with (src/runtime/lock.ts transactionLock):
 * plain statements in the transaction's one round trip, on a real server. Each of its
 * failures comes back as the kit's code, and only its own failures do.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dialectOf, type DatabaseTarget, type SqlConnection } from '../../src/db.ts';
import { ADVISORY_LOCK_KEY, ALREADY_IN_HISTORY, guardFailure, MOVED_BACKEND, transactionLock, TRANSACTION_LOCK_TIMEOUT, type TransactionLockOptions } from '../../src/runtime/lock.ts';
import { ensureTable, historyTable, insertRowSql } from '../../src/runtime/table.ts';
import { testDatabase } from '../helpers.ts';
import { until } from '../entrypoint/harness.ts';

const ISOLATION_LEVELS = ['read committed', 'repeatable read', 'serializable'] as const;

/** BEGIN, the guard and `rest` in one round trip, as deploy sends them; the guard's failure code, or null when it went through. */
async function guarded(conn: SqlConnection, options: TransactionLockOptions, rest = ''): Promise<string | null> {
  const lock = transactionLock(conn.target, options);
  try {
    await conn.exec(`${dialectOf(conn.target).begin};\n${lock.sql};\n${rest}`);
    return null;
  } catch (error) {
    await conn.exec('ROLLBACK').catch(() => {});
    return guardFailure(error, 1 + lock.lockAt) ?? `not the guard's: ${(error as Error).message}`;
  }
}

async function sessionLock(conn: SqlConnection): Promise<number> {
  const [row] = await conn.query<{ locked: boolean; pid: number }>('SELECT pg_try_advisory_lock($1) AS locked, pg_backend_pid() AS pid', [ADVISORY_LOCK_KEY]);
  assert.equal(row?.locked, true);
  return row.pid;
}

async function settings(conn: SqlConnection): Promise<{ lock: string; statement: string }> {
  const [row] = await conn.query<{ lock: string; statement: string }>("SELECT current_setting('lock_timeout') AS lock, current_setting('statement_timeout') AS statement");
  return row as { lock: string; statement: string };
}

describe('the transaction guard (PostgreSQL)', () => {
  test("on the session lock's backend it takes the lock at once; the migration's timeouts hold until the transaction ends", async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const conn = await db.connect();
    const backend = await sessionLock(conn);
    const lock = transactionLock(db.target, { timeoutMs: 60_000, backend, script: { lockTimeoutMs: 1234, statementTimeoutMs: 5678 } });
    assert.doesNotMatch(lock.sql, /\bDO\b/, 'plain statements, nothing compiled per transaction');
    await conn.exec(`${dialectOf(db.target).begin};\n${lock.sql}`);
    assert.deepEqual(await settings(conn), { lock: '1234ms', statement: '5678ms' });
    await conn.exec('COMMIT');
    assert.deepEqual(await settings(conn), { lock: '0', statement: '0' });
  });

  test('on any other backend (a pooler moved the client): MOVED_BACKEND, before it waits for the lock', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const holder = await db.connect();
    const backend = await sessionLock(holder);
    const moved = await db.connect();
    await moved.exec("SET lock_timeout = '30s'"); // were it to wait, the test fails with a lock timeout instead of hanging
    assert.equal(await guarded(moved, { timeoutMs: 60_000, backend }), MOVED_BACKEND);
  });

  test('without a session lock (behind a pooler): it waits up to its timeout, then TRANSACTION_LOCK_TIMEOUT; the script lock timeout of a migration is not taken for it', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const holder = await db.connect();
    await sessionLock(holder);
    const pooled = await db.connect();
    assert.equal(await guarded(pooled, { timeoutMs: 100 }), TRANSACTION_LOCK_TIMEOUT);

    await holder.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK_KEY]);
    await holder.exec('CREATE TABLE "Busy" ("id" INTEGER)');
    await holder.exec('BEGIN; LOCK TABLE "Busy"');
    assert.match((await guarded(pooled, { timeoutMs: 60_000, script: { lockTimeoutMs: 100 } }, 'SELECT * FROM "Busy"')) ?? '', /^not the guard's: .*lock timeout/);
    await holder.exec('ROLLBACK');

    // The wait's timeout ends with the wait: the transaction goes on with the session's default.
    await pooled.exec(`${dialectOf(db.target).begin};\n${transactionLock(db.target, { timeoutMs: 4321 }).sql}`);
    assert.deepEqual(await settings(pooled), { lock: '0', statement: '0' });
    await pooled.exec('ROLLBACK');
  });

  for (const isolation of ISOLATION_LEVELS) {
    test(`a row committed while it waited for the lock is seen (database default ${isolation}): ALREADY_IN_HISTORY, nothing written`, async (t) => {
      const db = await testDatabase(t, 'postgresql');
      const admin = await db.connect();
      await ensureTable(admin);
      await admin.exec(`ALTER DATABASE "${(db.target as DatabaseTarget & { provider: 'postgresql' }).config.database}" SET default_transaction_isolation = '${isolation}'`);
      const first = await db.connect();
      const second = await db.connect();
      const name = '20990101000000_once';
      const row = (id: string) => insertRowSql(db.target, { id, name, checksum: 'c', startedAt: new Date(), finishedAt: new Date(), logs: null, appliedSteps: 1 });
      assert.equal(await guarded(first, { timeoutMs: 60_000, guard: name }, `${row('first')};\n`), null);
      const [{ pid } = { pid: 0 }] = await second.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');

      // The second migrator's round trip queues on the lock the first one's open transaction holds.
      const waiting = guarded(second, { timeoutMs: 60_000, guard: name }, `${row('second')};\nCOMMIT`);
      await until('the second migrator to wait for the migration lock', async () => (await admin.query('SELECT 1 FROM pg_locks WHERE pid = $1 AND locktype = $2 AND NOT granted', [pid, 'advisory'])).length === 1);
      await first.exec('COMMIT');
      assert.equal(await waiting, ALREADY_IN_HISTORY);
      assert.deepEqual(await admin.query(`SELECT id FROM ${historyTable(db.target)} ORDER BY id`), [{ id: 'first' }]);
    });
  }
});
