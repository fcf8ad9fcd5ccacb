/**
 * `make dev` / `npm run dev`: generate the clients if the schema changed,
 * verify and migrate the database, seed it, then run the admin panel until
 * Ctrl-C. A failing step stops here: nothing is started.
 */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { startAdminPanel, parsePort, type AdminPanel } from '../src/apps/admin-panel.ts';
import { startTelegramBot, telegramBotOptionsFromEnv } from '../src/apps/telegram-bot.ts';
import { err, formatMs, out, printDeployEvents, printLines, reportError, runCommand, target } from '../src/cli.ts';
import { createClient, describeDatasource, describeTarget, type DatabaseTarget } from '../src/db.ts';
import { generateClients } from '../src/authoring/generate.ts';
import { verifyDatabase, verifyReport } from '../src/authoring/verify.ts';
import { displayPath, readHistory } from '../src/runtime/history.ts';
import { generatedPassword, MIN_ADMIN_PASSWORD, seedDatabase, seedOptionsFromEnv, seedReport } from '../src/seed.ts';
import { lockTimeoutMs } from '../src/env.ts';

const STEPS = 4;

let interrupted: NodeJS.Signals | undefined;
let panel: AdminPanel | undefined;
let stopped: (() => void) | undefined;

/** Ctrl-C during a step is reported when the step ends (nothing is started); once the panel runs, it closes it. */
function onSignal(signal: NodeJS.Signals): void {
  interrupted = signal;
  stopped?.();
}

/** `make verify` on the dev database: apply what is pending, restore what is missing. */
async function verify(t: DatabaseTarget): Promise<number> {
  const history = readHistory(t.provider);
  const fix = t.provider === 'sqlite'; // PostgreSQL: report only, as make verify does
  err(`Verifying ${describeTarget(t)} against ${displayPath(history.dir)}${fix ? '' : ' (report only; make verify FIX=1 to repair)'}`);
  const result = await verifyDatabase(t, history, { fix, lockTimeoutMs: lockTimeoutMs(), onEvent: printDeployEvents() });
  printLines(verifyReport(result, fix));
  return result.ok ? 0 : 1;
}

/**
 * `make seed`: the admin user and the default pack when missing. Without ADMIN_PASSWORD a
 * newcomer still gets a login: the admin is created with a generated password, shown once.
 */
async function seed(t: DatabaseTarget): Promise<number> {
  const options = seedOptionsFromEnv();
  const generated = options.adminPassword === undefined ? generatedPassword() : undefined;
  const client = await createClient(t);
  try {
    const result = await seedDatabase(client, { ...options, adminPassword: options.adminPassword ?? generated });
    if (result.admin === 'created' && generated) {
      out(`✓ Admin user ${options.adminUsername} created with a generated password (shown this once): ${generated}`);
      out(`  To choose your own (${MIN_ADMIN_PASSWORD} characters or more): ADMIN_PASSWORD=… make seed RESET_PASSWORD=1, or set it in .env before the first make dev`);
      printLines(seedReport(result, options).slice(1));
    } else {
      printLines(seedReport(result, options));
    }
    return 0;
  } finally {
    await client.$disconnect();
  }
}

async function step(index: number, title: string, action: () => Promise<number | string>): Promise<number> {
  out(`[${index}/${STEPS}] ${title}…`);
  const started = performance.now();
  let result: number | string;
  try {
    result = await action();
  } catch (error) {
    result = reportError(error);
  }
  if (interrupted) {
    err(`Interrupted during "${title}": nothing was started`);
    return 130;
  }
  if (typeof result === 'number' && result !== 0) {
    err(`✗ ${title} failed (exit code ${result}): nothing was started`);
    return result;
  }
  out(`✓ ${typeof result === 'string' ? result : title} (${formatMs(performance.now() - started)})`);
  return 0;
}

await runCommand(
  {
    summary: 'Development: generate the Prisma clients if the schema changed, verify and migrate the database, seed it, start the admin panel and, when TELEGRAM_BOT_TOKEN is set, the telegram bot (Ctrl-C stops them). Interrupted before the panel starts: exit code 130.',
    usage: 'dev',
    options: {},
    optionHelp: [],
    env: [
      'DATABASE_URL        the database (default file:./data/rastar.db)',
      'PORT                admin panel port (default 3000)',
      'HOST                interface the admin panel listens on (default 127.0.0.1: this machine only)',
      'ADMIN_USERNAME, ADMIN_PASSWORD, DEFAULT_PACK_NAME  see make seed; without ADMIN_PASSWORD the admin is created with a generated password, printed once',
      'TELEGRAM_BOT_TOKEN  set: the telegram bot runs too (TELEGRAM_API_URL, TELEGRAM_POLL_TIMEOUT); unset: only the admin panel',
    ],
    examples: ['make dev', 'PORT=3001 npm run dev'],
  },
  process.argv.slice(2),
  async () => {
    process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
    const t = target();
    const port = parsePort(process.env.PORT); // a bad PORT fails before any step runs
    const botOptions = process.env.TELEGRAM_BOT_TOKEN?.trim() ? telegramBotOptionsFromEnv() : undefined; // so do the bot's settings
    out(`Datasource: ${describeDatasource(t)}`);

    const steps: [string, () => Promise<number | string>][] = [
      ['Generate Prisma clients', async () => ((await generateClients({ ifChanged: true })).generated ? 'Prisma clients generated' : 'Prisma clients are up to date')],
      ['Verify the database', () => verify(t)],
      ['Seed the database', () => seed(t)],
    ];
    for (const [index, [title, action]] of steps.entries()) {
      const code = await step(index + 1, title, action);
      if (code !== 0) return code;
    }

    out(`[${STEPS}/${STEPS}] Start the applications…`);
    if (!botOptions) out('TELEGRAM_BOT_TOKEN is not set: starting only the admin panel');
    const whenStopped = new Promise<void>((resolve) => (stopped = resolve));
    // Development listens on this machine only; HOST opens it (a dev container, say).
    panel = await startAdminPanel({ port, host: process.env.HOST?.trim() || '127.0.0.1', target: t, log: out });
    for (const warning of panel.warnings) err(`Warning: ${warning}`);
    out(`Admin panel listening on ${panel.url} (log in as ${seedOptionsFromEnv().adminUsername})`);
    // A bot that cannot go on (its token refused) ends the session like Ctrl-C, with its error and exit code.
    let botFailure: unknown;
    const bot = botOptions ? await startTelegramBot({ ...botOptions, target: t, log: { info: out, error: err } }) : undefined;
    bot?.finished.catch((error) => {
      botFailure = error;
      stopped?.();
    });
    await whenStopped;
    await bot?.stop();
    await panel.close();
    out('Admin panel stopped');
    return botFailure ? reportError(botFailure) : 0;
  },
);
