/** `npm run admin` / the image's `admin-panel` command: serve the admin panel until SIGINT or SIGTERM. */
import { parsePort, startAdminPanel } from '../src/apps/admin-panel.ts';
import { err, out, runCommand, target, untilSignal } from '../src/cli.ts';
import { describeDatasource } from '../src/db.ts';
import { errorMessage } from '../src/errors.ts';

await runCommand(
  {
    summary: 'Serve the admin panel: /healthz, /readyz (database reachable and holding every migration of this folder) and the migrations page. Never migrates.',
    usage: 'admin-panel',
    options: {},
    optionHelp: [],
    env: ['DATABASE_URL  the database (default file:./data/rastar.db)', 'PORT          the port to listen on (default 3000)'],
    examples: ['npm run admin', 'PORT=3001 npm run admin'],
  },
  process.argv.slice(2),
  async () => {
    const port = parsePort(process.env.PORT);
    // target() first: it remembers the target so that out/err mask its password.
    const panel = await startAdminPanel({ port, target: target() });
    out(`Datasource: ${describeDatasource(target())}`);
    out(`Admin panel listening on ${panel.url}`);
    await untilSignal();
    await panel.close().catch((error) => err(`Error while stopping: ${errorMessage(error)}`));
    out('Admin panel stopped');
    return 0;
  },
);
