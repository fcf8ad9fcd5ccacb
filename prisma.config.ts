// Lets the official `prisma` CLI (studio, validate, format, …) pick the schema
// and migrations that match DATABASE_URL. The kit's own commands do not need it.
import 'dotenv/config';
import { defineConfig } from 'prisma/config';

// Behind a pooler the CLI, like the kit, works on the server itself (Prisma's directUrl).
const url = process.env.DIRECT_DATABASE_URL || process.env.DATABASE_URL || 'file:./data/rastar.db';
const postgres = /^postgres(ql)?:/i.test(url);

export default defineConfig({
  schema: postgres ? 'prisma/schema.postgresql.prisma' : 'prisma/schema.prisma',
  migrations: { path: postgres ? 'prisma/migrations/postgresql' : 'prisma/migrations/sqlite' },
  datasource: { url },
});
