/**
 * The telegram bot process: long-polls the Bot API, stores every text message
 * (user, thread, reply metadata) exactly once and answers /start. It never
 * migrates: in a container the entrypoint's gate has waited for the schema.
 *
 * Exactly once: an update is acknowledged (the next getUpdates `offset`) only
 * after it is stored, so a crash redelivers it; a message already stored for
 * its (thread, telegramMessageId) is skipped, so a redelivery stores nothing.
 * Updates are handled one at a time by the one polling process (Telegram
 * itself refuses a second concurrent getUpdates with 409 Conflict).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, maskSecrets, maskUrl, parseDatabaseUrl, type DatabaseTarget } from '../db.ts';
import { KitError, errorMessage } from '../errors.ts';
import { beat } from '../runtime/heartbeat.ts';

export const DEFAULT_API_URL = 'https://api.telegram.org';
export const DEFAULT_POLL_TIMEOUT_SECONDS = 25;
const MAX_BACKOFF_MS = 30_000;
/** sendMessage is not cut short by a stop (the update being handled is finished), only by this. */
const SEND_TIMEOUT_MS = 30_000;
const NO_TOKEN = 'TELEGRAM_BOT_TOKEN is not set; the bot cannot start (set it in .env, or TELEGRAM_BOT_TOKEN_FILE in containers)';

export interface TelegramBotOptions {
  /** The token @BotFather gave; never printed. */
  token: string;
  /** Default https://api.telegram.org (tests point it at a fake server). */
  apiUrl?: string;
  /** Default: parsed from DATABASE_URL. */
  target?: DatabaseTarget;
  /** How long Telegram holds an empty getUpdates open, in seconds (default 25). */
  pollTimeoutSeconds?: number;
  /** Renewed at every turn of the poll loop, for the container's health check. */
  heartbeatFile?: string;
  /** Where the bot's lines go (the script: stdout / stderr); lines arrive already masked. */
  log: { info(line: string): void; error(line: string): void };
}

export interface TelegramBot {
  /** Abort the long poll, finish the update being handled, disconnect; logs "Telegram bot stopped". */
  stop(): Promise<void>;
  /** Resolves when the bot has stopped; rejects (KitError) when it cannot go on: the API refused the token. */
  finished: Promise<void>;
}

// The few fields of the Bot API the bot reads (https://core.telegram.org/bots/api#update).
interface TgUser {
  id: number;
  username?: string;
  first_name?: string;
  last_name?: string;
  language_code?: string;
}
interface TgMessage {
  message_id: number;
  from?: TgUser;
  chat: { id: number };
  text?: string;
  caption?: string;
  reply_to_message?: TgMessage;
}
interface TgUpdate {
  update_id: number;
  message?: TgMessage;
}

/** A failed step of the loop: the message is masked and ready to log. */
class Failure extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The bot's settings from the environment; a missing token or a malformed value is a usage error (exit 2). */
export function telegramBotOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Required<Pick<TelegramBotOptions, 'token' | 'apiUrl' | 'pollTimeoutSeconds'>> {
  const token = env.TELEGRAM_BOT_TOKEN?.trim();
  if (!token) throw new KitError('BAD_USAGE', NO_TOKEN);
  const raw = env.TELEGRAM_POLL_TIMEOUT?.trim();
  const pollTimeoutSeconds = raw ? Number(raw) : DEFAULT_POLL_TIMEOUT_SECONDS;
  if (!Number.isInteger(pollTimeoutSeconds) || pollTimeoutSeconds < 0) {
    throw new KitError('BAD_USAGE', `TELEGRAM_POLL_TIMEOUT must be a whole number of seconds >= 0, got "${raw}"`);
  }
  const apiUrl = env.TELEGRAM_API_URL?.trim() || DEFAULT_API_URL;
  apiHost(apiUrl); // a bad URL fails here, before anything is printed
  return { token, apiUrl, pollTimeoutSeconds };
}

/** host[:port] of the API, for the log; anything but an http(s) URL is a usage error. */
function apiHost(apiUrl: string): string {
  try {
    const parsed = new URL(apiUrl);
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return parsed.host;
  } catch {
    // reported below
  }
  throw new KitError('BAD_USAGE', `TELEGRAM_API_URL must be an http(s) URL, got "${maskUrl(apiUrl)}"; default ${DEFAULT_API_URL}`);
}

export async function startTelegramBot(options: TelegramBotOptions): Promise<TelegramBot> {
  const token = options.token.trim();
  if (!token) throw new KitError('BAD_USAGE', NO_TOKEN);
  const db = options.target ?? parseDatabaseUrl();
  const apiUrl = (options.apiUrl ?? DEFAULT_API_URL).replace(/\/+$/, '');
  const host = apiHost(apiUrl);
  const pollTimeout = options.pollTimeoutSeconds ?? DEFAULT_POLL_TIMEOUT_SECONDS;
  // The token is part of every API URL, so any error text may carry it (raw or percent-encoded).
  const mask = (text: string) => maskSecrets(text.split(token).join('***').split(encodeURIComponent(token)).join('***'), db);
  const { log } = options;
  const client = await createClient(db);
  const stopping = new AbortController();

  /** One Bot API call (POST, JSON); any answer but `{ ok: true }` becomes a Failure. */
  async function call<T>(method: string, params: object, signal: AbortSignal): Promise<T> {
    let res: Response;
    let body: string;
    try {
      res = await fetch(`${apiUrl}/bot${token}/${method}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(params), signal });
      body = await res.text();
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause;
      const reason = signal.aborted ? 'no answer in time' : `${errorMessage(error)}${cause ? `: ${errorMessage(cause)}` : ''}`;
      throw new Failure(mask(`Telegram API ${method} failed: ${reason}`));
    }
    let answer: { ok?: boolean; result?: T; description?: string; parameters?: { retry_after?: number } } | undefined;
    try {
      answer = JSON.parse(body);
    } catch {
      // not JSON (a proxy's error page): the status says enough
    }
    if (res.ok && answer?.ok === true) return answer.result as T;
    const retryAfter = answer?.parameters?.retry_after;
    throw new Failure(
      mask(`Telegram API ${method} failed: HTTP ${res.status} ${(answer?.description ?? res.statusText) || 'unexpected answer'}`),
      res.status,
      typeof retryAfter === 'number' ? retryAfter * 1000 : undefined,
    );
  }

  /** Store one update (and answer /start); a message stored before is skipped, answer included. */
  async function handle(update: TgUpdate): Promise<void> {
    const message = update.message;
    // Only text from a person is conversation; anything else is acknowledged and skipped.
    if (!message?.from || typeof message.text !== 'string') return;
    const { from, text } = message;
    const now = BigInt(Date.now());
    const profile = { username: from.username ?? null, firstName: from.first_name ?? null, lastName: from.last_name ?? null, languageCode: from.language_code ?? null };
    const defaultPack = await client.pack.findFirst({ where: { isDefault: true }, orderBy: { id: 'asc' }, select: { id: true, name: true } });
    const user = await client.user.upsert({
      where: { telegramId: BigInt(from.id) },
      update: { ...profile, updatedAt: now },
      create: { telegramId: BigInt(from.id), ...profile, packId: defaultPack?.id ?? null, createdAt: now, updatedAt: now },
      select: { id: true, pack: { select: { name: true } } },
    });
    const chatId = BigInt(message.chat.id);
    const thread =
      (await client.thread.findFirst({ where: { userId: user.id, chatId }, orderBy: { id: 'asc' }, select: { id: true } })) ??
      (await client.thread.create({ data: { userId: user.id, chatId, createdAt: now, updatedAt: now }, select: { id: true } }));
    const storedId = async (telegramMessageId: number) =>
      (await client.message.findFirst({ where: { threadId: thread.id, telegramMessageId: BigInt(telegramMessageId) }, orderBy: { id: 'asc' }, select: { id: true } }))?.id ?? null;
    if ((await storedId(message.message_id)) !== null) return; // redelivered: stored (and answered) before

    const replied = message.reply_to_message;
    const question = {
      threadId: thread.id,
      role: 'user',
      content: text,
      telegramMessageId: BigInt(message.message_id),
      replyToTelegramMessageId: replied ? BigInt(replied.message_id) : null,
      replyToText: replied ? (replied.text ?? replied.caption ?? null) : null,
      replyToMessageId: replied ? await storedId(replied.message_id) : null,
      createdAt: now,
    };
    if (!/^\/start(@\w+)?(\s|$)/.test(text)) {
      await client.message.create({ data: question, select: { id: true } });
      return;
    }
    // Answer first, then store question and answer together: a failed answer leaves the
    // update unacknowledged (retried later), and a stored /start always has its answer.
    const packName = user.pack?.name ?? defaultPack?.name;
    const greeting = packName ? `Welcome! Your pack: ${packName}` : 'Welcome! No pack is set up yet.';
    const sent = await call<TgMessage>('sendMessage', { chat_id: message.chat.id, text: greeting }, AbortSignal.timeout(SEND_TIMEOUT_MS));
    await client.$transaction([
      client.message.create({ data: question, select: { id: true } }),
      client.message.create({ data: { threadId: thread.id, role: 'assistant', content: greeting, telegramMessageId: BigInt(sent.message_id), createdAt: BigInt(Date.now()) }, select: { id: true } }),
    ]);
  }

  async function poll(): Promise<void> {
    let offset: number | undefined;
    let failures = 0;
    while (!stopping.signal.aborted) {
      beat(options.heartbeatFile, (pollTimeout + 15) * 1000); // the health check's sign that the loop turns
      try {
        // The client-side deadline catches a connection that silently died mid-poll.
        const signal = AbortSignal.any([stopping.signal, AbortSignal.timeout((pollTimeout + 15) * 1000)]);
        const updates = await call<TgUpdate[]>('getUpdates', { offset, timeout: pollTimeout, allowed_updates: ['message'] }, signal);
        for (const update of updates) {
          if (stopping.signal.aborted) break; // the rest is redelivered at the next start
          try {
            await handle(update);
          } catch (error) {
            if (error instanceof Failure) throw error;
            throw new Failure(mask(`Storing update ${update.update_id} failed: ${lastLine(errorMessage(error))}`));
          }
          offset = update.update_id + 1;
        }
        failures = 0;
      } catch (error) {
        if (stopping.signal.aborted) break;
        if (!(error instanceof Failure)) throw error;
        if (error.status === 401) {
          throw new KitError('CONNECTION', `The Telegram API refused the bot token (401 Unauthorized); check TELEGRAM_BOT_TOKEN (the token @BotFather gave) and TELEGRAM_API_URL (${host})`);
        }
        failures++;
        const delay = error.retryAfterMs ?? Math.min(1000 * 2 ** (failures - 1), MAX_BACKOFF_MS);
        log.error(`${error.message}; retrying in ${delay / 1000}s`);
        beat(options.heartbeatFile, delay);
        await sleep(delay, undefined, { signal: stopping.signal }).catch(() => {});
      }
    }
  }

  const finished = poll().finally(() => client.$disconnect());
  finished.catch(() => {}); // the owner reads it; an unobserved rejection must not crash the process first
  log.info(`Telegram bot started (polling ${host})`);
  let stopped: Promise<void> | undefined;
  return {
    finished,
    stop() {
      stopped ??= (async () => {
        stopping.abort();
        await finished.catch(() => {});
        log.info('Telegram bot stopped');
      })();
      return stopped;
    },
  };
}

/** Prisma's errors span many lines ("Invalid `prisma.x()` invocation: …"); the last one says why. */
function lastLine(text: string): string {
  return (text.split('\n').map((line) => line.trim()).filter(Boolean).at(-1) ?? 'unknown error').replace(/\.$/, '');
}
