/**
 * `make studio` / `npm run prisma:studio`: the official Prisma Studio on
 * DATABASE_URL, offline. Prisma 7's `studio` takes no --schema: it reads
 * prisma.config.ts (which picks the provider's schema from DATABASE_URL) and
 * introspects the database. The URL goes through the environment, not argv,
 * so a password never shows in the process list.
 */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { out, runCommand, target } from '../src/cli.ts';
import { describeDatasource, describeTarget, projectRoot } from '../src/db.ts';
import { KitError } from '../src/errors.ts';
import { prismaCli, prismaCliEnv } from '../src/authoring/generate.ts';

// The same file src/authoring/generate.ts runs for `prisma generate`.
// Studio's own default is 51212; the team's workflow documents localhost:5555.
const DEFAULT_PORT = 5555;

await runCommand(
  {
    summary: 'Open Prisma Studio on DATABASE_URL (SQLite or PostgreSQL), without downloading anything. Runs until Ctrl-C.',
    usage: 'studio [--port <port>] [--browser <name|none>]',
    options: { port: { type: 'string', short: 'p' }, browser: { type: 'string', short: 'b' } },
    optionHelp: ['-p, --port <port>     port to serve Studio on, on 127.0.0.1 (default 5555)', '-b, --browser <name>  browser to open, or none'],
    env: ['DATABASE_URL  the database (default file:./data/rastar.db); credentials are never printed', 'BROWSER       same as --browser'],
    examples: ['make studio', 'npm run prisma:studio -- --port 5556 --browser none'],
  },
  process.argv.slice(2),
  async (values) => {
    const t = target();
    if (values.port !== undefined && !/^[1-9]\d{0,4}$/.test(String(values.port))) throw new KitError('BAD_USAGE', `--port must be a port number, got "${values.port}"`);
    // Studio refuses a relative file: URL; and would silently create an empty file.
    if (t.provider === 'sqlite' && !existsSync(t.file)) {
      throw new KitError('CONNECTION', `${describeTarget(t)} does not exist`, { hint: 'Create and migrate it first: make dev (or make deploy)' });
    }
    const url = t.provider === 'sqlite' ? pathToFileURL(t.file).href : t.url;
    out(`Datasource: ${describeDatasource(t)}`);
    const args = [prismaCli(), 'studio', '--config', join(projectRoot, 'prisma.config.ts')];
    args.push('--port', String(values.port ?? DEFAULT_PORT));
    if (values.browser !== undefined) args.push('--browser', String(values.browser));
    const child = spawn(process.execPath, args, { cwd: projectRoot, stdio: 'inherit', env: { ...prismaCliEnv(), DATABASE_URL: url } });
    // Stay alive until Studio exits, passing on a signal sent to us alone.
    const forward = (signal: NodeJS.Signals) => child.exitCode === null && child.kill(signal);
    process.on('SIGINT', forward).on('SIGTERM', forward);
    return new Promise<number>((resolve, reject) => {
      child.on('error', (error) => reject(new KitError('IO', `Cannot start Prisma Studio: ${error.message}`)));
      child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1)));
    });
  },
);
