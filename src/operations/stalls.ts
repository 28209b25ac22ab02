// The migrations stalled now, by source migration id: what `t2t requests` marks
// and the stall check tells the workflows.
import type { Config } from '../config';
import { readPhaseChanges } from './phase-history';
import { phasePeriods, stalledMigrations, type StalledMigration } from './phase-times';

export async function stalledById(config: Pick<Config, 'databaseUrl' | 'stall'>, now = Date.now()): Promise<Map<string, StalledMigration>> {
  const periods = phasePeriods(await readPhaseChanges(config.databaseUrl));
  const stalled = stalledMigrations(periods, now, { limitMs: config.stall.limitMs, minSamples: config.stall.minSamples });
  return new Map(stalled.map((s) => [s.migrationId, s]));
}
