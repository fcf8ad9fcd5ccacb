/** PostgreSQL helpers shared by the benchmarks: one short connection per task, fresh databases. */
import { openConnection, withDatabase, type DatabaseTarget, type SqlConnection } from '../src/db.ts';

export type PgTarget = DatabaseTarget & { provider: 'postgresql' };

export async function withConn<T>(target: PgTarget, work: (conn: SqlConnection) => Promise<T>): Promise<T> {
  const conn = await openConnection(target, { applicationName: 'rastar-bench' });
  try {
    return await work(conn);
  } finally {
    await conn.close();
  }
}

/** Drop and re-create `name` on the server of `server`. */
export async function freshDatabase(server: PgTarget, name: string): Promise<PgTarget> {
  await withConn(server, async (conn) => {
    await conn.exec(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await conn.exec(`CREATE DATABASE "${name}"`);
  });
  return withDatabase(server, name);
}

export async function dropDatabase(server: PgTarget, name: string): Promise<void> {
  await withConn(server, (conn) => conn.exec(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}
