import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { startTelegramBot, type TelegramBot } from '../../src/apps/telegram-bot.ts';
import { createClient, type AppClient, type Provider } from '../../src/db.ts';
import { seedDatabase } from '../../src/seed.ts';
import { startFakeTelegram, type FakeTelegram } from '../fixtures/fake-telegram.ts';
import { PROVIDERS, runScript, serverPassword, tempDir, testDatabase, type TestDatabase } from '../helpers.ts';
import { exitWithin, freePort, startScript, type Running } from '../processes.ts';

/** Above 2^32 and negative ids: Telegram's ids need BigInt columns. */
const ADA = { id: 7_000_000_001, is_bot: false, first_name: 'Ada', last_name: 'Lovelace', username: 'ada', language_code: 'en' };
const GROUP_CHAT = -1_001_234_567_890;

let nextMessageId = 100;
function textMessage(text: string, extra: object = {}): { message_id: number; text: string; [field: string]: unknown } {
  return { message_id: nextMessageId++, date: Math.floor(Date.now() / 1000), chat: { id: ADA.id, type: 'private' }, from: ADA, text, ...extra };
}

interface Setup {
  db: TestDatabase;
  fake: FakeTelegram;
  client: AppClient;
  bot: TelegramBot;
  /** What the bot logged. */
  lines: string[];
}

/** A migrated database (with the default pack "Starter" when asked), a fake API and a bot polling it in-process. */
async function setup(t: TestContext, provider: Provider, options: { seed?: boolean } = {}): Promise<Setup> {
  const closers: (() => Promise<unknown>)[] = [];
  // Registered first, so it runs first: the bot and the client let go before the database is dropped.
  t.after(async () => {
    for (const close of closers.reverse()) await close();
  });
  const db = await testDatabase(t, provider);
  const deployed = await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url } });
  assert.equal(deployed.code, 0, deployed.stderr);
  const client = await createClient(db.target);
  closers.push(() => client.$disconnect());
  if (options.seed) await seedDatabase(client, { adminUsername: 'admin', defaultPackName: 'Starter' });
  const fake = await startFakeTelegram(t);
  const lines: string[] = [];
  const bot = await startTelegramBot({ token: fake.token, apiUrl: fake.url, target: db.target, pollTimeoutSeconds: 5, log: { info: (l) => lines.push(l), error: (l) => lines.push(l) } });
  closers.push(() => bot.stop());
  return { db, fake, client, bot, lines };
}

/** Push messages and wait until the bot acknowledged them all (it asks for the next offset only after storing). */
async function deliver(fake: FakeTelegram, ...messages: object[]): Promise<void> {
  let last = 0;
  for (const message of messages) last = fake.push(message);
  await fake.waitForPoll((poll) => poll.offset === last + 1);
}

const messagesOf = (client: AppClient) =>
  client.message.findMany({
    orderBy: { id: 'asc' },
    select: { id: true, threadId: true, role: true, content: true, telegramMessageId: true, replyToMessageId: true, replyToTelegramMessageId: true, replyToText: true },
  });

for (const provider of PROVIDERS) {
  describe(`telegram bot on ${provider}`, () => {
    test('stores a text message with its user (given the default pack) and thread, once per chat', async (t) => {
      const { fake, client, bot, lines } = await setup(t, provider, { seed: true });
      const hello = textMessage('Hello!');
      await deliver(fake, hello);
      assert.deepEqual(fake.polls[0], { index: 0, offset: undefined, timeout: 5, allowed_updates: ['message'] });

      const users = await client.user.findMany({ select: { telegramId: true, username: true, firstName: true, lastName: true, languageCode: true, pack: { select: { name: true } } } });
      assert.deepEqual(users, [{ telegramId: 7_000_000_001n, username: 'ada', firstName: 'Ada', lastName: 'Lovelace', languageCode: 'en', pack: { name: 'Starter' } }]);
      const [thread] = await client.thread.findMany({ select: { id: true, chatId: true } });
      assert.equal(thread.chatId, 7_000_000_001n);
      const [stored, ...rest] = await messagesOf(client);
      assert.deepEqual(rest, []);
      assert.deepEqual(stored, { id: stored.id, threadId: thread.id, role: 'user', content: 'Hello!', telegramMessageId: BigInt(hello.message_id), replyToMessageId: null, replyToTelegramMessageId: null, replyToText: null });

      // The same user, renamed, writes again in the private chat and in a group: the profile follows, one thread per chat.
      const renamed = { ...ADA, username: 'countess' };
      await deliver(fake, textMessage('Again', { from: renamed }), textMessage('In the group', { from: renamed, chat: { id: GROUP_CHAT, type: 'supergroup' } }));
      assert.equal((await client.user.findFirstOrThrow()).username, 'countess');
      assert.deepEqual((await client.thread.findMany({ orderBy: { id: 'asc' }, select: { chatId: true } })).map((r) => r.chatId), [7_000_000_001n, BigInt(GROUP_CHAT)]);
      assert.deepEqual((await messagesOf(client)).map((m) => m.content), ['Hello!', 'Again', 'In the group']);
      assert.deepEqual(fake.sent, [], 'only /start is answered');

      await bot.stop();
      assert.deepEqual(lines, [`Telegram bot started (polling ${fake.host})`, 'Telegram bot stopped']);
    });

    test('a reply stores what it replies to, linked to the stored message when there is one', async (t) => {
      const { fake, client } = await setup(t, provider);
      const question = textMessage('What is a pack?');
      await deliver(fake, question);
      await deliver(
        fake,
        textMessage('I mean this', { reply_to_message: question }),
        textMessage('And this old one', { reply_to_message: { message_id: 7, chat: { id: ADA.id }, text: 'Before the bot' } }),
      );
      const [first, reply, orphan] = await messagesOf(client);
      assert.deepEqual(
        { replyToMessageId: reply.replyToMessageId, replyToTelegramMessageId: reply.replyToTelegramMessageId, replyToText: reply.replyToText },
        { replyToMessageId: first.id, replyToTelegramMessageId: BigInt(question.message_id), replyToText: 'What is a pack?' },
      );
      assert.deepEqual(
        { replyToMessageId: orphan.replyToMessageId, replyToTelegramMessageId: orphan.replyToTelegramMessageId, replyToText: orphan.replyToText },
        { replyToMessageId: null, replyToTelegramMessageId: 7n, replyToText: 'Before the bot' },
      );
    });

    test('/start is answered with the default pack, and question and answer are both stored', async (t) => {
      const { fake, client } = await setup(t, provider, { seed: true });
      const start = textMessage('/start');
      await deliver(fake, start);
      assert.equal(fake.sent.length, 1);
      const [answer] = fake.sent;
      assert.deepEqual({ chat_id: answer.chat_id, text: answer.text }, { chat_id: ADA.id, text: 'Welcome! Your pack: Starter' });

      // A reply to the bot's greeting links to the stored answer.
      const reply = textMessage('Thanks', { reply_to_message: { message_id: answer.message_id, chat: { id: ADA.id }, from: { id: 1, is_bot: true, first_name: 'rastar' }, text: answer.text } });
      await deliver(fake, reply);
      const stored = await messagesOf(client);
      assert.deepEqual(
        stored.map((m) => [m.role, m.content, m.telegramMessageId]),
        [
          ['user', '/start', BigInt(start.message_id)],
          ['assistant', 'Welcome! Your pack: Starter', BigInt(answer.message_id)],
          ['user', 'Thanks', BigInt(reply.message_id)],
        ],
      );
      assert.equal(stored[2].replyToMessageId, stored[1].id);
      assert.equal(new Set(stored.map((m) => m.threadId)).size, 1);
    });

    test('an update delivered twice is stored once, and /start answered once', async (t) => {
      const { fake, client } = await setup(t, provider, { seed: true });
      const start = fake.push(textMessage('/start'));
      const last = fake.push(textMessage('Hi'));
      await fake.waitForPoll((poll) => poll.offset === last + 1);
      const next = fake.polls.length; // the index of the poll after the one waiting now
      fake.redeliverOnce(); // as after a crash before the acknowledgement reached Telegram
      await fake.waitForPoll((poll) => poll.index >= next && poll.offset === last + 1);
      assert.deepEqual([fake.deliveries.get(start), fake.deliveries.get(last)], [2, 2], 'both updates were handed out twice');
      assert.deepEqual((await messagesOf(client)).map((m) => m.content), ['/start', 'Welcome! Your pack: Starter', 'Hi']);
      assert.equal(fake.sent.length, 1);
    });
  });
}

describe('telegram bot when something fails', () => {
  test('an update it cannot store is not acknowledged: it is stored once the database is ready', async (t) => {
    const db = await testDatabase(t, 'sqlite'); // not migrated yet
    const fake = await startFakeTelegram(t);
    const lines: string[] = [];
    const bot = await startTelegramBot({ token: fake.token, apiUrl: fake.url, target: db.target, pollTimeoutSeconds: 5, log: { info: (l) => lines.push(l), error: (l) => lines.push(l) } });
    t.after(() => bot.stop());
    const id = fake.push(textMessage('Early bird'));
    await fake.waitForPoll((poll) => poll.index === 1); // after the failure and a 1 s back-off
    assert.equal(fake.polls[1].offset, undefined, 'the update was not acknowledged');
    assert.match(lines[1], new RegExp(`^Storing update ${id} failed: .*Pack.* does not exist.*; retrying in 1s$`));

    const deployed = await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url } });
    assert.equal(deployed.code, 0, deployed.stderr);
    await fake.waitForPoll((poll) => poll.offset === id + 1, 30_000);
    await bot.stop();
    const client = await createClient(db.target);
    try {
      assert.deepEqual((await messagesOf(client)).map((m) => m.content), ['Early bird']);
    } finally {
      await client.$disconnect();
    }
    assert.equal(fake.deliveries.get(id), fake.polls.length - 1, 'handed out again at every retry until stored');
  });


  test('logs one line per failure (token masked), backs off, and carries on', async (t) => {
    const { fake, client, lines } = await setup(t, 'sqlite');
    await fake.waitForPoll(() => true);
    fake.failNext(2, 502);
    const started = Date.now();
    // The waiting long poll hands this over; the two getUpdates after it fail.
    await deliver(fake, textMessage('Before the outage'));
    assert.ok(Date.now() - started >= 2900, `backed off 1s, then 2s (took ${Date.now() - started}ms)`);
    await deliver(fake, textMessage('After the outage'));
    assert.deepEqual(
      lines.filter((l) => l.includes('failed')),
      [`Telegram API getUpdates failed: HTTP 502 Fake failure 502; retrying in 1s`, `Telegram API getUpdates failed: HTTP 502 Fake failure 502; retrying in 2s`],
    );
    assert.deepEqual((await messagesOf(client)).map((m) => m.content), ['Before the outage', 'After the outage']);
    assert.ok(!lines.join('\n').includes(fake.token));
  });
});

// ---------------------------------------------------------------------------
// The real process, as the container runs it

function startBotProcess(t: TestContext, env: NodeJS.ProcessEnv): Running {
  return startScript(t, 'telegram-bot', [], env);
}

async function waitForOutput(running: Running, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(running.output())) {
    if (running.child.exitCode !== null || Date.now() > deadline) throw new Error(`no ${pattern} in:\n${running.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('telegram bot process', () => {
  for (const provider of PROVIDERS) {
    test(`on ${provider}: stores what it receives, and SIGTERM during a long poll exits 0 at once`, async (t) => {
      const db = await testDatabase(t, provider);
      const deployed = await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url } });
      assert.equal(deployed.code, 0, deployed.stderr);
      const fake = await startFakeTelegram(t);
      const bot = startBotProcess(t, { DATABASE_URL: db.url, TELEGRAM_BOT_TOKEN: fake.token, TELEGRAM_API_URL: fake.url, TELEGRAM_POLL_TIMEOUT: '50' });
      const id = fake.push(textMessage('Through the process'));
      await fake.waitForPoll((poll) => poll.offset === id + 1, 60_000); // stored, now waiting in a 50 s long poll
      assert.equal(fake.polls.at(-1)?.timeout, 50);

      const signalled = Date.now();
      bot.child.kill('SIGTERM');
      assert.deepEqual(await exitWithin(bot, 5000), { code: 0, signal: null }, bot.output());
      assert.ok(Date.now() - signalled < 3000, `exit took ${Date.now() - signalled}ms`);
      assert.match(bot.stdout(), new RegExp(`^Telegram bot started \\(polling ${fake.host.replace(/\./g, '\\.')}\\)$`, 'm'));
      assert.match(bot.stdout(), /Telegram bot stopped\n$/);
      assert.equal(bot.stderr(), '');
      assert.ok(!bot.output().includes(fake.token), 'the token is never printed');
      if (provider === 'postgresql') assert.ok(!bot.output().includes(serverPassword()), 'nor the database password');

      const conn = await db.connect();
      assert.deepEqual((await conn.query<{ content: string }>('SELECT "content" FROM "Message"')).map((r) => r.content), ['Through the process']);
    });
  }

  test('without a token it exits 2 with one line that says how to set it', async (t) => {
    const bot = startBotProcess(t, { DATABASE_URL: `file:${join(tempDir(t), 'bot.db')}`, TELEGRAM_BOT_TOKEN: '' });
    assert.deepEqual(await exitWithin(bot, 30_000), { code: 2, signal: null });
    assert.equal(bot.stdout(), '');
    assert.equal(bot.stderr(), 'Error: TELEGRAM_BOT_TOKEN is not set; the bot cannot start (set it in .env, or TELEGRAM_BOT_TOKEN_FILE in containers)\n');
  });

  test('a token the API refuses (401) exits 1 with one line naming the problem, without the token', async (t) => {
    const fake = await startFakeTelegram(t);
    const wrong = '987654321:WRONG-t0ken_also-never-printed';
    const bot = startBotProcess(t, { DATABASE_URL: `file:${join(tempDir(t), 'bot.db')}`, TELEGRAM_BOT_TOKEN: wrong, TELEGRAM_API_URL: fake.url, TELEGRAM_POLL_TIMEOUT: '1' });
    assert.deepEqual(await exitWithin(bot, 30_000), { code: 1, signal: null }, bot.output());
    assert.match(bot.stderr(), /^Error: The Telegram API refused the bot token \(401 Unauthorized\); check TELEGRAM_BOT_TOKEN[^\n]*\n$/);
    assert.ok(!bot.output().includes(wrong) && !bot.output().includes(fake.token), bot.output());
  });

  test('an unreachable API is logged (token masked) and retried with a growing back-off; SIGTERM while waiting exits 0', async (t) => {
    const token = '555000111:UNREACHABLE-t0ken-never-printed';
    const bot = startBotProcess(t, { DATABASE_URL: `file:${join(tempDir(t), 'bot.db')}`, TELEGRAM_BOT_TOKEN: token, TELEGRAM_API_URL: `http://127.0.0.1:${await freePort()}`, TELEGRAM_POLL_TIMEOUT: '1' });
    await waitForOutput(bot, /retrying in 2s/);
    bot.child.kill('SIGTERM');
    assert.deepEqual(await exitWithin(bot, 3000), { code: 0, signal: null }, bot.output());
    const failures = bot.stderr().trim().split('\n');
    assert.match(failures[0], /^Telegram API getUpdates failed: fetch failed: .*ECONNREFUSED.*; retrying in 1s$/);
    assert.match(failures[1], /^Telegram API getUpdates failed: .*; retrying in 2s$/);
    assert.ok(!bot.output().includes(token), bot.output());
  });
});
