// Lets the official `prisma` CLI (studio, validate, format, …) pick the schema
// and migrations that match DATABASE_URL. The kit's own commands do not need it.
import 'dotenv/config';
import { defineConfig } from 'prisma/config';

const url = process.env.DATABASE_URL || 'file:./data/rastar.db';
const postgres = /^postgres(ql)?:/i.test(url);

export default defineConfig({
  schema: postgres ? 'prisma/schema.postgresql.prisma' : 'prisma/schema.prisma',
  migrations: { path: postgres ? 'prisma/migrations/postgresql' : 'prisma/migrations/sqlite' },
  datasource: { url },
});
