// How long each phase of a migration takes, from the phase changes the control
// plane keeps, and which migrations have been in their phase for longer than
// migrations usually are (stall detection, docs/operations.md).
// Pure: the client's `t2t stats` and `t2t requests` and the worker's stall check
// compute the same figures from the same records.
import { isFinalPhase, type Phase } from '../contracts';

export interface PhaseChange {
  migrationId: string;
  phase: Phase;
  /** ISO time the migration entered the phase (workflow time) */
  at: string;
}

export interface PhasePeriod {
  migrationId: string;
  phase: Phase;
  startedAt: number;
  /** undefined: the migration is in this phase now */
  endedAt?: number;
}

export interface PhaseStatistics {
  phase: Phase;
  /** completed periods of this phase */
  count: number;
  p50Ms: number;
  p90Ms: number;
  maxMs: number;
  /** migrations in this phase now */
  current: number;
}

export interface StallSettings {
  /** below this many completed periods of a phase, its p90 says too little: the limit applies */
  minSamples: number;
  /** how long a phase may run while there is too little history */
  limitMs: number;
}

export const DEFAULT_STALL_SETTINGS: StallSettings = { minSamples: 20, limitMs: 24 * 3_600_000 };

export interface StalledMigration {
  migrationId: string;
  phase: Phase;
  since: string;
  /** how long it has been in the phase */
  elapsedMs: number;
  /** the time it was judged against, and where that came from */
  thresholdMs: number;
  basis: 'p90' | 'limit';
}

/** Each migration's phases as periods, in order; the last one of a migration still running has no end. */
export function phasePeriods(changes: readonly PhaseChange[]): PhasePeriod[] {
  const byMigration = new Map<string, PhaseChange[]>();
  for (const change of changes) {
    const list = byMigration.get(change.migrationId) ?? [];
    list.push(change);
    byMigration.set(change.migrationId, list);
  }
  const periods: PhasePeriod[] = [];
  for (const list of byMigration.values()) {
    list.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    for (let i = 0; i < list.length; i += 1) {
      const change = list[i];
      // A final phase ends the migration: it is a moment, not a period.
      if (isFinalPhase(change.phase)) continue;
      const next = list[i + 1];
      periods.push({ migrationId: change.migrationId, phase: change.phase, startedAt: Date.parse(change.at), ...(next ? { endedAt: Date.parse(next.at) } : {}) });
    }
  }
  return periods;
}

/** The nearest-rank percentile of sorted durations. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Count, p50, p90 and max of each phase's completed periods, with how many are in it now; phases in the order first seen. */
export function phaseStatistics(periods: readonly PhasePeriod[]): PhaseStatistics[] {
  const durations = new Map<Phase, number[]>();
  const current = new Map<Phase, number>();
  for (const period of periods) {
    if (!durations.has(period.phase)) durations.set(period.phase, []);
    if (period.endedAt === undefined) current.set(period.phase, (current.get(period.phase) ?? 0) + 1);
    else durations.get(period.phase)!.push(period.endedAt - period.startedAt);
  }
  return [...durations.entries()].map(([phase, list]) => {
    const sorted = [...list].sort((a, b) => a - b);
    return {
      phase,
      count: sorted.length,
      p50Ms: percentile(sorted, 50),
      p90Ms: percentile(sorted, 90),
      maxMs: sorted.length > 0 ? sorted[sorted.length - 1] : 0,
      current: current.get(phase) ?? 0,
    };
  });
}

/** The time a migration may spend in a phase before it counts as stalled. */
export function stallThreshold(phase: Phase, statistics: readonly PhaseStatistics[], settings: StallSettings): { thresholdMs: number; basis: 'p90' | 'limit' } {
  const known = statistics.find((s) => s.phase === phase);
  if (known && known.count >= settings.minSamples) return { thresholdMs: known.p90Ms, basis: 'p90' };
  return { thresholdMs: settings.limitMs, basis: 'limit' };
}

/** Migrations whose current phase has run past its threshold, longest first. */
export function stalledMigrations(periods: readonly PhasePeriod[], now: number, settings: StallSettings = DEFAULT_STALL_SETTINGS): StalledMigration[] {
  const statistics = phaseStatistics(periods);
  const stalled: StalledMigration[] = [];
  for (const period of periods) {
    if (period.endedAt !== undefined) continue;
    const elapsedMs = now - period.startedAt;
    const { thresholdMs, basis } = stallThreshold(period.phase, statistics, settings);
    if (elapsedMs > thresholdMs) {
      stalled.push({ migrationId: period.migrationId, phase: period.phase, since: new Date(period.startedAt).toISOString(), elapsedMs, thresholdMs, basis });
    }
  }
  return stalled.sort((a, b) => b.elapsedMs - a.elapsedMs);
}
