// The migrations stalled now, by source migration id: what `t2t requests` marks
// and the stall check tells the workflows.
import type { Config } from '../config';
import { readPhaseChanges } from './phase-history';
import { phasePeriods, phaseStatistics, stalledMigrations, type PhaseChange, type StalledMigration } from './phase-times';
import type { Phase } from '../contracts';

/** Where the phase changes are, and what counts as stalled. */
type StallSettings = Pick<Config, 'databaseUrl'> & { stall: Pick<Config['stall'], 'limitMs' | 'minSamples'> };

/** `changes`: the phase changes, when the caller has read them already (t2t requests' lean read). */
export async function stalledById(config: StallSettings, now = Date.now(), changes?: PhaseChange[]): Promise<Map<string, StalledMigration>> {
  return (await phaseSnapshot(config, now, changes)).stalled;
}

export interface PhaseSnapshot {
  /** migrations in each phase now, by the phase changes recorded */
  inPhase: Map<Phase, number>;
  stalled: Map<string, StalledMigration>;
}

/** Where the migrations are now, and which of them are stalled, from one read of the phase changes. */
export async function phaseSnapshot(config: StallSettings, now = Date.now(), changes?: PhaseChange[]): Promise<PhaseSnapshot> {
  const periods = phasePeriods(changes ?? (await readPhaseChanges(config.databaseUrl)));
  const stalled = stalledMigrations(periods, now, { limitMs: config.stall.limitMs, minSamples: config.stall.minSamples });
  const inPhase = new Map(phaseStatistics(periods).map((s) => [s.phase, s.current]));
  return { inPhase, stalled: new Map(stalled.map((s) => [s.migrationId, s])) };
}
