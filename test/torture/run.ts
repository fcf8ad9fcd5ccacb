/**
 * `npm run torture -- [--rounds N] [--seed S] [--major 15|16|17|18]`: rounds of the
 * exactly-once harness (see harness.ts), seeds S, S+1, …; a failing round prints its
 * seed and the command that plays it again. Exit 1 when the oracle found a violation.
 */
import '../../src/node-version.ts';
import { parseArgs } from 'node:util';
import { rmSync } from 'node:fs';
import { maskUrl } from '../../src/db.ts';
import { startPostgresMajor } from '../postgres-major.ts';
import { describeRound, planRound, playRound, tortureWorkDir } from './harness.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' }, seed: { type: 'string' }, major: { type: 'string', default: process.env.TEST_POSTGRES_MAJOR || '18' }, help: { type: 'boolean' } } });
if (values.help) {
  console.log('usage: npm run torture -- [--rounds N (20)] [--seed S (random)] [--major 15|16|17|18 (18)]\nExit codes: 0 no violation, 1 a violation (its seed is printed), 2 bad usage.');
  process.exit(0);
}
const rounds = Number(values.rounds);
const first = values.seed === undefined ? Math.floor(Math.random() * 1_000_000) : Number(values.seed);
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(first) || !/^1[5-8]$/.test(values.major)) {
  console.error('Error: --rounds and --seed take whole numbers, --major one of 15, 16, 17, 18');
  process.exit(2);
}
const server = await startPostgresMajor(values.major);
const work = tortureWorkDir();
console.log(`Torture: ${rounds} round(s) from seed ${first} on ${server.version} (${maskUrl(server.url)})`);
const faults = new Map<string, number>();
let violated = 0;
const started = performance.now();
try {
  for (let k = 0; k < rounds; k++) {
    const round = planRound(first + k);
    const t0 = performance.now();
    const outcome = await playRound(server, round, work);
    faults.set(outcome.fault, (faults.get(outcome.fault) ?? 0) + 1);
    const took = `${((performance.now() - t0) / 1000).toFixed(1)}s`;
    if (outcome.violations.length === 0) {
      console.log(`✓ round ${k + 1}/${rounds} ${describeRound(round)} (${took})`);
      continue;
    }
    violated++;
    console.log(`✗ round ${k + 1}/${rounds} ${describeRound(round)} (${took})`);
    for (const v of outcome.violations) console.log(`    ${v.split('\n').join('\n    ')}`);
    console.log(`    play it again: npm run torture -- --seed ${round.seed} --rounds 1 --major ${values.major}`);
  }
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
console.log(`${rounds} rounds in ${((performance.now() - started) / 1000).toFixed(0)}s; faults: ${[...faults].map(([f, n]) => `${f} ${n}`).join(', ')}; rounds with violations: ${violated}`);
process.exit(violated ? 1 : 0);
