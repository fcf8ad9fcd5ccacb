/**
 * Long-running scripts in tests (dev, studio): start one as the user would,
 * wait until it answers over HTTP, signal it, and never leave it behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { projectRoot } from '../src/db.ts';

const TSX_LOADER = import.meta.resolve('tsx');

export interface Running {
  child: ChildProcess;
  /** Everything printed so far, stdout and stderr interleaved. */
  output(): string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `scripts/<script>.ts`; killed (SIGKILL) after the test if still running. */
export function startScript(t: TestContext, script: string, args: string[], env: NodeJS.ProcessEnv): Running {
  const fullEnv: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', ...env };
  for (const [key, value] of Object.entries(fullEnv)) if (value === undefined) delete fullEnv[key];
  const child = spawn(process.execPath, ['--import', TSX_LOADER, join(projectRoot, 'scripts', `${script}.ts`), ...args], {
    cwd: tmpdir(),
    env: fullEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, output: () => output, exited };
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Poll `url` until `accept(response)` holds; fails early if `running` exits. */
export async function waitForHttp(url: string, accept: (res: Response) => boolean, options: { timeoutMs?: number; running?: Running } = {}): Promise<Response> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let ended = false;
  options.running?.exited.then(() => (ended = true));
  for (;;) {
    if (ended) throw new Error(`the process ended before ${url} answered:\n${options.running?.output()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (accept(res)) return res;
      await res.body?.cancel();
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer in time:\n${options.running?.output() ?? ''}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Resolves with the exit, or rejects after `ms`. */
export function exitWithin(running: Running, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    running.exited.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still running after ${ms}ms:\n${running.output()}`)), ms))),
  ]);
}
