// Prisma's schema engine (WebAssembly) `applyMigrations` as a whole process, for
// comparison only. Runs the compiled kit (dist/) so no TypeScript loader is timed.
// Uses the kit's mended PostgreSQL migration adapter (createMigrationAdapterFactory):
// the stock @prisma/adapter-pg splits scripts on every `;` and fails on this corpus.
// Env: DATABASE_URL, PRISMA_DIR (migrations in $PRISMA_DIR/migrations/<provider>/).
import { createMigrationAdapterFactory, parseDatabaseUrl } from '../dist/src/db.js';
import { NO_FILTER, openEngine, toMigrationList } from '../dist/src/authoring/engine.js';
import { readHistory } from '../dist/src/runtime/history.js';

const target = parseDatabaseUrl();
const history = readHistory(target.provider);
const schema = `datasource db {\n  provider = "${target.provider}"\n}\n`;
const open = await openEngine('schema.prisma', schema, await createMigrationAdapterFactory(target));
let code = 0;
try {
  const result = await open.call((engine) => engine.applyMigrations({ migrationsList: toMigrationList(history), filters: NO_FILTER }));
  process.stdout.write(`engine applied ${result.appliedMigrationNames.length} migrations\n`);
} catch (error) {
  process.stderr.write(`Error: ${error instanceof Error ? error.message : String(error)}\n`);
  code = 1;
} finally {
  await open.close();
}
process.exit(code);
