/**
 * The exactly-once harness (test/torture), bounded: a few rounds whose seeds cover every
 * topology, fault, isolation level, migrator path and migration kind; `npm run torture`
 * plays as many as you like. A control shows the oracle sees a second application.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { describeRound, FAULTS, ISOLATIONS, KINDS, PATHS, planRound, playRound, TOPOLOGIES, tortureWorkDir, type Round } from './torture/harness.ts';
import { startPostgresMajor, type Server } from './postgres-major.ts';

/** The first seeds from 1 that, together, cover every value of every dimension. */
function coveringRounds(): Round[] {
  const wanted = new Set([...TOPOLOGIES, ...FAULTS, ...ISOLATIONS, ...PATHS, ...KINDS, 'failing'].map(String));
  const rounds: Round[] = [];
  for (let seed = 1; wanted.size > 0 && seed < 10_000; seed++) {
    const round = planRound(seed);
    const offers = [round.topology, round.fault, round.isolation, ...round.migrators, ...round.history.map((m) => m.kind)].filter((v) => wanted.has(v));
    if (offers.length === 0) continue;
    rounds.push(round);
    for (const value of offers) wanted.delete(value);
  }
  assert.equal(wanted.size, 0);
  return rounds;
}

let server: Server;
let work: string;
before(async () => {
  // A server of its own: the harness restarts it.
  server = await startPostgresMajor(process.env.TEST_POSTGRES_MAJOR || '18');
  work = tortureWorkDir();
});
after(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

for (const round of coveringRounds()) {
  test(`torture ${describeRound(round)}: no violation`, async () => {
    const { violations } = await playRound(server, round, work);
    assert.deepEqual(violations, [], `play it again: npm run torture -- --seed ${round.seed} --rounds 1`);
  });
}

test('control: the oracle sees a migration applied twice and a failed row without a failure', async () => {
  const round = { ...planRound(1), fault: 'none' as const, topology: 'direct' as const };
  const name = (round.history[1] as { name: string }).name;
  const { violations } = await playRound(server, round, work, async (conn) => {
    await conn.exec(`INSERT INTO "Ledger" ("migration") VALUES ('${name}')`);
    await conn.exec(`UPDATE "_prisma_migrations" SET finished_at = NULL, logs = 'made up' WHERE migration_name = '${(round.history[2] as { name: string }).name}'`);
  });
  assert.ok(violations.some((v) => v.startsWith(`${name} `) && v.includes('ran 2 times')), violations.join('\n'));
  assert.ok(violations.some((v) => v.includes('is recorded failed: made up')), violations.join('\n'));
});
