/** `npm run admin` / the image's `admin-panel` command: serve the admin panel until SIGINT or SIGTERM. */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { parsePort, startAdminPanel } from '../src/apps/admin-panel.ts';
import { err, out, runCommand, target, untilSignal } from '../src/cli.ts';
import { describeDatasource } from '../src/db.ts';
import { errorMessage } from '../src/errors.ts';

await runCommand(
  {
    summary: 'Serve the admin panel: /healthz and /readyz (database reachable and holding every migration of this folder) in public; behind a login, the migrations, users, threads, packs and MCP tool logs. Never migrates.',
    usage: 'admin-panel',
    options: {},
    optionHelp: [],
    env: [
      'DATABASE_URL         the database (default file:./data/rastar.db)',
      'PORT                 the port to listen on (default 3000)',
      'SESSION_SECRET       signs session cookies, 32+ characters; required when NODE_ENV=production',
      'SESSION_SECRET_FILE  or: a file holding it (Docker secrets)',
      'SESSION_MAX_AGE      seconds a login lasts (default 28800)',
      'COOKIE_SECURE=true   mark cookies Secure even when requests do not say HTTPS',
      'TRUST_PROXY          the reverse proxies to believe, addresses or CIDRs (e.g. 127.0.0.1,10.0.0.0/8,::1): client address and scheme from their X-Forwarded-For/-Proto',
    ],
    examples: ['npm run admin', 'PORT=3001 npm run admin'],
  },
  process.argv.slice(2),
  async () => {
    const port = parsePort(process.env.PORT);
    // target() first: it remembers the target so that out/err mask its password.
    const panel = await startAdminPanel({ port, target: target(), log: out });
    for (const warning of panel.warnings) err(`Warning: ${warning}`);
    out(`Datasource: ${describeDatasource(target())}`);
    out(`Admin panel listening on ${panel.url}`);
    await untilSignal();
    await panel.close().catch((error) => err(`Error while stopping: ${errorMessage(error)}`));
    out('Admin panel stopped');
    return 0;
  },
);
