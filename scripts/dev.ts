/**
 * `make dev` / `npm run dev`: generate the clients if the schema changed,
 * verify and migrate the database, seed it, then run the admin panel until
 * Ctrl-C. A failing step stops here: nothing is started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { startAdminPanel, parsePort, type AdminPanel } from '../src/apps/admin-panel.ts';
import { startTelegramBot, telegramBotOptionsFromEnv } from '../src/apps/telegram-bot.ts';
import { err, formatMs, out, reportError, runCommand, target } from '../src/cli.ts';
import { describeDatasource, projectRoot } from '../src/db.ts';
import { generateClients } from '../src/migrations/authoring/generate.ts';

// Children run through the same tsx loader, resolved by file URL: cwd may be anywhere.
const TSX_LOADER = import.meta.resolve('tsx');
const STEPS = 4;

let child: ChildProcess | undefined;
let interrupted: NodeJS.Signals | undefined;
let panel: AdminPanel | undefined;
let stopped: (() => void) | undefined;

/** Ctrl-C during a step ends that step's child; once the panel runs, it closes it. */
function onSignal(signal: NodeJS.Signals): void {
  interrupted = signal;
  if (child && child.exitCode === null) child.kill(signal);
  stopped?.();
}

/** Run scripts/<script> with this process's environment and terminal; resolves to its exit code. */
function runScript(script: string): Promise<number> {
  return new Promise((resolve) => {
    child = spawn(process.execPath, ['--import', TSX_LOADER, join(projectRoot, 'scripts', script)], { stdio: 'inherit', env: process.env });
    child.on('error', (error) => {
      err(`Error: cannot start scripts/${script}: ${error.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      child = undefined;
      resolve(code ?? (signal ? 1 : 0));
    });
  });
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
      'ADMIN_USERNAME, ADMIN_PASSWORD, DEFAULT_PACK_NAME  see make seed',
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
      ['Verify the database', () => runScript('reset-migrations.ts')],
      ['Seed the database', () => runScript('seed.ts')],
    ];
    for (const [index, [title, action]] of steps.entries()) {
      const code = await step(index + 1, title, action);
      if (code !== 0) return code;
    }

    out(`[${STEPS}/${STEPS}] Start the applications…`);
    if (!botOptions) out('TELEGRAM_BOT_TOKEN is not set: starting only the admin panel');
    const whenStopped = new Promise<void>((resolve) => (stopped = resolve));
    panel = await startAdminPanel({ port, target: t });
    out(`Admin panel listening on ${panel.url}`);
    // A bot that cannot go on (its token refused) ends the session like Ctrl-C, with its error and exit code.
    let botFailure: unknown;
    const bot = botOptions ? await startTelegramBot({ ...botOptions, target: t }) : undefined;
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
