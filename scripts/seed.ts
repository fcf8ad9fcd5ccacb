/** `make seed`: the first admin user and the default pack, created only when missing. */
import { err, out, runCommand, target } from '../src/cli.ts';
import { createClient } from '../src/db.ts';
import { seedDatabase } from '../src/seed.ts';

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
    const adminUsername = process.env.ADMIN_USERNAME?.trim() || 'admin';
    const defaultPackName = process.env.DEFAULT_PACK_NAME?.trim() || 'Default';
    const client = await createClient(target());
    try {
      const result = await seedDatabase(client, { adminUsername, adminPassword: process.env.ADMIN_PASSWORD || undefined, defaultPackName });
      if (result.admin === 'created') out(`✓ Admin user ${adminUsername} created`);
      else if (result.admin === 'exists') out(`Admin user ${adminUsername} exists`);
      else err('ADMIN_PASSWORD is not set: skipping the admin user');
      if (result.pack === 'created') out(`✓ Default pack ${result.packName} created`);
      else if (result.pack === 'made-default') out(`✓ Pack ${result.packName} is now the default pack`);
      else out(`Default pack ${result.packName} exists`);
      return 0;
    } finally {
      await client.$disconnect();
    }
  },
);
