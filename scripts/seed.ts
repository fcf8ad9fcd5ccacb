/** `make seed`: the first admin user and the default pack, created only when missing. */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { printLines, runCommand, target } from '../src/cli.ts';
import { createClient } from '../src/db.ts';
import { seedDatabase, seedOptionsFromEnv, seedReport } from '../src/seed.ts';

await runCommand(
  {
    summary: 'Create the admin user and the default pack if they are missing. Idempotent; safe to run from several containers at once.',
    usage: 'seed',
    options: {},
    optionHelp: [],
    env: [
      'DATABASE_URL       the database (default file:./data/rastar.db); it must be migrated (make deploy)',
      'ADMIN_USERNAME     the admin user to create (default admin)',
      'ADMIN_PASSWORD     its password, stored as an scrypt hash; unset: the admin user is skipped',
      'DEFAULT_PACK_NAME  the default pack to create when no pack is the default (default Default)',
    ],
    examples: ['make seed', 'ADMIN_PASSWORD=… npm run db:seed'],
  },
  process.argv.slice(2),
  async () => {
    const options = seedOptionsFromEnv();
    const client = await createClient(target());
    try {
      printLines(seedReport(await seedDatabase(client, options), options));
      return 0;
    } finally {
      await client.$disconnect();
    }
  },
);
