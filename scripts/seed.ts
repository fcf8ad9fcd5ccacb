/** `make seed`: the first admin user and the default pack, created only when missing. */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { out, printLines, runCommand, target } from '../src/cli.ts';
import { createClient } from '../src/db.ts';
import { KitError } from '../src/errors.ts';
import { resetAdminPassword, seedDatabase, seedOptionsFromEnv, seedReport } from '../src/seed.ts';

await runCommand(
  {
    summary: 'Create the admin user and the default pack if they are missing. Idempotent; safe to run from several containers at once. --reset-password gives the existing admin user ADMIN_PASSWORD instead.',
    usage: 'seed [--reset-password]',
    options: { 'reset-password': { type: 'boolean' } },
    optionHelp: ['--reset-password  set the admin user\'s password to ADMIN_PASSWORD (make seed RESET_PASSWORD=1)'],
    env: [
      'DATABASE_URL       the database (default file:./data/rastar.db); it must be migrated (make deploy)',
      'ADMIN_USERNAME     the admin user to create (default admin)',
      'ADMIN_PASSWORD     its password (12 characters or more), stored as an scrypt hash; unset: the admin user is skipped',
      'DEFAULT_PACK_NAME  the default pack to create when no pack is the default (default Default)',
    ],
    examples: ['make seed', 'ADMIN_PASSWORD=… npm run db:seed', 'ADMIN_PASSWORD=… make seed RESET_PASSWORD=1'],
  },
  process.argv.slice(2),
  async (values) => {
    const options = seedOptionsFromEnv();
    const client = await createClient(target());
    try {
      if (values['reset-password']) {
        if (!options.adminPassword) throw new KitError('BAD_USAGE', '--reset-password needs the new password in ADMIN_PASSWORD');
        if (!(await resetAdminPassword(client, options.adminUsername, options.adminPassword))) throw new KitError('HISTORY', `There is no admin user ${options.adminUsername} to give a new password; make seed creates it`);
        out(`✓ Admin user ${options.adminUsername} has a new password`);
        return 0;
      }
      printLines(seedReport(await seedDatabase(client, options), options));
      return 0;
    } finally {
      await client.$disconnect();
    }
  },
);
