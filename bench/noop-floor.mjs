// The floor for a no-op deploy: a bare Node process that connects with pg, reads
// `_prisma_migrations` and exits. Nothing a migrator could skip. Env: DATABASE_URL.
import pg from 'pg';

const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
const { rows } = await client.query('SELECT * FROM "_prisma_migrations" ORDER BY started_at, migration_name');
process.stdout.write(`${rows.length} migrations recorded\n`);
await client.end();
