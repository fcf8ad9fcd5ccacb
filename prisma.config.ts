// Lets the official `prisma` CLI (migrate, db, studio, validate, …) pick the schema
// and migrations that match DATABASE_URL. The kit's own commands do not need it.
import 'dotenv/config';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'prisma/config';

// The CLI's schema engine is the kit's (no native binary, nothing downloaded), unless
// the user names another one.
process.env.PRISMA_SCHEMA_ENGINE_BINARY ||= fileURLToPath(new URL('./bin/schema-engine', import.meta.url));

// Behind a pooler the CLI, like the kit, works on the server itself (Prisma's directUrl).
const url = process.env.DIRECT_DATABASE_URL || process.env.DATABASE_URL || 'file:./data/rastar.db';
const postgres = /^postgres(ql)?:/i.test(url);

// PRISMA_DIR: another prisma/ folder, as for the kit's own commands.
const dir = process.env.PRISMA_DIR || 'prisma';

export default defineConfig({
  schema: `${dir}/${postgres ? 'schema.postgresql.prisma' : 'schema.prisma'}`,
  migrations: { path: `${dir}/migrations/${postgres ? 'postgresql' : 'sqlite'}` },
  datasource: { url },
});
