/**
 * Scenario 10, the production image under a real engine (`BENCH_ONLY=image npm run
 * bench`, after `make test-container` built it): its size (as stored, and gzipped as
 * `podman save` ships it), a rebuild with every layer cached, and container start to
 * the first `/readyz` 200. Side by side in one run: the panel started as given (`node
 * dist/scripts/admin-panel.js`, no entrypoint steps: the floor of a container start), the
 * entrypoint on a schema already current (waits, deploy says nothing pending, seed), and
 * on a fresh database (every migration and the seed).
 */
import { execFile, spawn } from 'node:child_process';
import { createGzip } from 'node:zlib';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { projectRoot } from '../src/db.ts';
import { freePort } from '../src/authoring/embedded-postgres.ts';
import { median, replaceSection } from './gate.ts';
import { dropDatabase, freshDatabase, type PgTarget } from './pg.ts';

const ENGINE = join(projectRoot, 'test', 'container', 'engine.sh');
const SECRETS = ['-e', 'ADMIN_PASSWORD=admin-pass-123456', '-e', 'SESSION_SECRET=0123456789abcdef0123456789abcdef-bench'];

function engine(args: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(ENGINE, args, { maxBuffer: 64 * 1024 * 1024, timeout: 900_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr), ms: performance.now() - started }),
    );
  });
}

/** Bytes of `podman save` gzipped (level 6, as `docker save | gzip`). */
function savedGzipBytes(image: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const save = spawn(ENGINE, ['podman', 'save', image], { stdio: ['ignore', 'pipe', 'ignore'] });
    let bytes = 0;
    const gzip = createGzip({ level: 6 });
    gzip.on('data', (chunk: Buffer) => (bytes += chunk.length));
    gzip.on('end', () => resolve(bytes));
    gzip.on('error', reject);
    save.stdout.pipe(gzip);
  });
}

async function untilReady(port: number, name: string): Promise<number> {
  const started = performance.now();
  for (;;) {
    const status = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0);
    if (status === 200) return performance.now() - started;
    const state = await engine(['podman', 'inspect', name, '--format', '{{.State.Running}}']);
    if (state.stdout.trim() === 'false') throw new Error(`${name} stopped before /readyz answered: ${(await engine(['podman', 'logs', name])).stderr}`);
    await new Promise((done) => setTimeout(done, 25));
  }
}

interface StartRow {
  name: string;
  ms: number[];
}

export interface ImageResults {
  image: string;
  bytes: number;
  gzipBytes: number;
  cachedBuildMs: number;
  starts: StartRow[];
}

export async function runImageBench(server: PgTarget, options: { runs: number; log: (line: string) => void }): Promise<ImageResults> {
  const image = process.env.RASTAR_IMAGE || 'localhost/rastar:test';
  const { log } = options;
  const inspected = await engine(['podman', 'image', 'inspect', image, '--format', '{{.Size}}']);
  if (inspected.code !== 0) throw new Error(`${image} is not built: run make test-container first (${inspected.stderr.trim()})`);
  const bytes = Number(inspected.stdout.trim());
  log(`Image ${image}: ${(bytes / 1e6).toFixed(0)} MB; gzipping podman save…`);
  const gzipBytes = await savedGzipBytes(image);
  log('Rebuilding with every layer cached…');
  const rebuilt = await engine(['image']);
  if (rebuilt.code !== 0) throw new Error(`the cached rebuild failed: ${rebuilt.stderr.slice(-2000)}`);

  const kinds: { name: string; prepare: (db: PgTarget) => Promise<void>; command: string[] }[] = [
    { name: 'the panel as given (`node dist/scripts/admin-panel.js`, no entrypoint steps): the floor', prepare: deployWith(image), command: ['node', 'dist/scripts/admin-panel.js'] },
    { name: 'entrypoint, schema current (database wait, deploy: nothing pending, seed, panel)', prepare: deployWith(image), command: ['admin-panel'] },
    { name: 'entrypoint, fresh database (every migration, seed, panel)', prepare: async () => {}, command: ['admin-panel'] },
  ];
  const starts: StartRow[] = kinds.map((kind) => ({ name: kind.name, ms: [] }));
  // Interleaved rounds, one warm-up: the three kinds meet the same machine load.
  for (let round = -1; round < options.runs; round++) {
    for (const [i, kind] of kinds.entries()) {
      const db = await freshDatabase(server, 'bench_image');
      try {
        await kind.prepare(db);
        const port = await freePort();
        const name = `rastar-bench-${process.pid}`;
        const started = performance.now();
        const run = await engine(['podman', 'run', '-d', '--name', name, '--network', 'host', '-e', `DATABASE_URL=${db.url}`, '-e', 'RUN_MIGRATIONS=true', '-e', `PORT=${port}`, ...SECRETS, image, ...kind.command]);
        try {
          if (run.code !== 0) throw new Error(run.stderr);
          await untilReady(port, name);
          const ms = performance.now() - started;
          if (round >= 0) starts[i]!.ms.push(ms);
          log(`[image ${round < 0 ? 'warm-up' : `${round + 1}/${options.runs}`}] ${kind.name.slice(0, 40).padEnd(40)} ${(ms / 1000).toFixed(2)} s`);
        } finally {
          await engine(['podman', 'rm', '-f', '-v', name]);
        }
      } finally {
        await dropDatabase(server, 'bench_image');
      }
    }
  }
  return { image, bytes, gzipBytes, cachedBuildMs: rebuilt.ms, starts };
}

/** Apply the migrations with the image itself, so that a start finds the schema current. */
function deployWith(image: string) {
  return async (db: PgTarget) => {
    const deployed = await engine(['podman', 'run', '--rm', '--network', 'host', '-e', `DATABASE_URL=${db.url}`, '-e', 'RUN_MIGRATIONS=true', ...SECRETS, image, 'app', '--', 'true']);
    if (deployed.code !== 0) throw new Error(deployed.stderr);
  };
}

/** Measured by hand (a cold build takes minutes): kept in the section when it is rewritten. */
const COLD =
  'A cold build (`time test/container/engine.sh image --no-cache`, base images present) took 2 min 33 s on 2026-12-06: better-sqlite3 is compiled once, in the deps stage both later stages start from. Before (the image of the research, two compilations): 5 min 15-29 s, 781 MB, 231 MB gzipped. `make test-container` from a fresh engine folder (base images, the PostgreSQL stand-in, the image, 6 tests) took 254 s in the clean clone\'s `bash .ci/run`.';

const BEGIN = '<!-- image:begin -->';
const END = '<!-- image:end -->';

/** A full run cannot build the image (make test-container does): it keeps the last measured section. */
export function keepImageSection(previous: string, markdown: string): string {
  const from = previous.indexOf(BEGIN);
  const to = previous.indexOf(END);
  return from >= 0 && to > from ? replaceSection(markdown, BEGIN, END, previous.slice(from, to + END.length)) : markdown;
}

export function applyImage(markdown: string, r: ImageResults, when: string): string {
  const secs = (ms: number) => (ms / 1000).toFixed(2);
  const floor = r.starts[0]?.ms.length ? median(r.starts[0].ms) : NaN;
  const section = [
    BEGIN,
    '## The production image (scenario 10)',
    '',
    `Measured ${when} by bench/image.ts on \`${r.image}\`, built by \`make test-container\` (podman 4.3, \`PG_CLIENT_APT=debian\`). Containers on the host network against the embedded PostgreSQL 18; \`podman run -d\` to the first \`/readyz\` 200, polled every 25 ms; ${r.starts[0]?.ms.length ?? 0} interleaved rounds after a warm-up.`,
    '',
    '| | |',
    '|---|---:|',
    `| image size, as stored | ${(r.bytes / 1e6).toFixed(0)} MB |`,
    `| \`podman save\`, gzipped | ${(r.gzipBytes / 1e6).toFixed(0)} MB |`,
    `| rebuild, every layer cached | ${secs(r.cachedBuildMs)} s |`,
    '',
    '| Start | Median (s) | Min–max (s) | vs the floor |',
    '|---|---:|---:|---:|',
    ...r.starts.map((row) => `| ${row.name} | ${row.ms.length ? secs(median(row.ms)) : 'n/a'} | ${row.ms.length ? `${secs(Math.min(...row.ms))}–${secs(Math.max(...row.ms))}` : ''} | ${row === r.starts[0] ? 'floor' : row.ms.length ? `+${secs(median(row.ms) - floor)} s` : ''} |`),
    '',
    COLD,
    END,
  ].join('\n');
  return replaceSection(markdown, BEGIN, END, section);
}
