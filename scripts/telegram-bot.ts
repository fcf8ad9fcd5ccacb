/** `npm run bot` / the image's `telegram-bot` command: run the telegram bot until SIGINT or SIGTERM. */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { startTelegramBot, telegramBotOptionsFromEnv } from '../src/apps/telegram-bot.ts';
import { err, out, runCommand, target, untilSignal } from '../src/cli.ts';
import { describeDatasource } from '../src/db.ts';
import { botHeartbeatFile } from '../src/runtime/heartbeat.ts';

await runCommand(
  {
    summary: 'Run the telegram bot: long-poll the Bot API, store every text message exactly once, answer /start. Never migrates. Exit code 1 when the API refuses the token.',
    usage: 'telegram-bot',
    options: {},
    optionHelp: [],
    env: [
      'DATABASE_URL           the database (default file:./data/rastar.db)',
      'TELEGRAM_BOT_TOKEN     the token @BotFather gave (required; never printed)',
      'TELEGRAM_API_URL       the Bot API (default https://api.telegram.org)',
      'TELEGRAM_POLL_TIMEOUT  seconds Telegram holds an empty poll open (default 25)',
    ],
    examples: ['npm run bot'],
  },
  process.argv.slice(2),
  async () => {
    const options = telegramBotOptionsFromEnv(); // the token first: without it nothing else matters
    out(`Datasource: ${describeDatasource(target())}`);
    const bot = await startTelegramBot({ ...options, heartbeatFile: botHeartbeatFile(), target: target(), log: { info: out, error: err } });
    // A refused token ends the run with its error (bot.finished rejects); a signal stops it cleanly.
    await Promise.race([untilSignal(), bot.finished]);
    await bot.stop();
    return 0;
  },
);
