/**
 * Is a transaction pooler (PgBouncer in transaction mode, Supavisor, RDS Proxy, …)
 * between the kit and the server? Through one, nothing of a session survives its
 * transaction: a session advisory lock stays on whichever server connection took
 * it, LISTEN hears nothing. The kit then keeps all it relies on inside transactions.
 */
import { openConnection, type SqlConnection } from '../db.ts';

const probed = new WeakMap<SqlConnection, Promise<boolean>>();

/**
 * Direct when the server sees this very socket (its client port is this end's port).
 * Else something sits in between (a pooler, or a TCP proxy), and the probe decides:
 * while this client sits between two transactions, a second client opens one. Only a
 * transaction pooler can hand the second one this client's backend, or give this
 * client another backend next; a session pooler or a proxy keeps one backend per
 * client. The pooler may route both to free backends by chance: three tries.
 */
export function behindTransactionPooler(conn: SqlConnection): Promise<boolean> {
  if (conn.target.provider !== 'postgresql') return Promise.resolve(false);
  let answer = probed.get(conn);
  if (!answer) {
    answer = probe(conn);
    probed.set(conn, answer);
  }
  return answer;
}

async function probe(conn: SqlConnection): Promise<boolean> {
  const [seen] = await conn.query<{ port: number | null }>('SELECT inet_client_port() AS port');
  if (seen?.port != null && seen.port === conn.localPort) return false;
  const backend = async (c: SqlConnection) => Number((await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))[0]?.pid);
  const other = await openConnection(conn.target, { applicationName: 'rastar-probe', waitMs: 0 });
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      const mine = await backend(conn);
      await other.exec('BEGIN');
      try {
        // Asked only when the second client got a backend of its own: with a pool of one,
        // this client would otherwise wait for the second one's transaction.
        if ((await backend(other)) === mine || (await backend(conn)) !== mine) return true;
      } finally {
        await other.exec('COMMIT').catch(() => {});
      }
    }
    return false;
  } finally {
    await other.close();
  }
}
