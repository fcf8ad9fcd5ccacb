/**
 * Long-running scripts in tests (dev, studio): start one as the user would,
 * wait until it answers over HTTP, signal it, and never leave it behind.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { tmpdir } from 'node:os';
import type { TestContext } from 'node:test';
import { childEnv, scriptArgs } from './helpers.ts';

export interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Everything printed so far, stdout and stderr interleaved. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process ended and its output is read. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawn a process whose stdout and stderr are captured, apart and interleaved. */
export function spawnCapture(command: string, args: string[], options: SpawnOptions): Running {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let output = '';
  child.stdout?.on('data', (chunk) => ((stdout += chunk), (output += chunk)));
  child.stderr?.on('data', (chunk) => ((stderr += chunk), (output += chunk)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => stdout, stderr: () => stderr, output: () => output, exited };
}

/** Start `scripts/<script>.ts`; killed (SIGKILL) after the test if still running. */
export function startScript(t: TestContext, script: string, args: string[], env: NodeJS.ProcessEnv): Running {
  const running = spawnCapture(process.execPath, [...scriptArgs(script), ...args], { cwd: tmpdir(), env: childEnv(env) });
  t.after(() => {
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill('SIGKILL');
  });
  return running;
}

export { freePort } from '../src/authoring/embedded-postgres.ts';

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
