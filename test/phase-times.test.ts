// Phase statistics and stall detection, on phase changes written by hand.
import assert from 'node:assert/strict';
import { phasePeriods, phaseStatistics, stalledMigrations, stallThreshold, type PhaseChange } from '../src/operations/phase-times';
import type { Phase } from '../src/contracts';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-11-01T00:00:00Z');
const at = (hours: number) => new Date(T0 + hours * HOUR).toISOString();

/** A migration that went through the phases, each after the hours given. */
function migration(id: string, steps: [Phase, number][]): PhaseChange[] {
  return steps.map(([phase, hours]) => ({ migrationId: id, phase, at: at(hours) }));
}

describe('phase times and stall detection', () => {
  it('turns phase changes into periods per migration, in time order, with final phases as moments', () => {
    const changes = [...migration('m1', [['PendingApproval', 0], ['Approved', 5], ['Succeeded', 9]]), ...migration('m2', [['PendingApproval', 2]])];
    const periods = phasePeriods([...changes].reverse());
    assert.deepEqual(
      periods.map((p) => [p.migrationId, p.phase, (p.startedAt - T0) / HOUR, p.endedAt === undefined ? 'now' : (p.endedAt - T0) / HOUR]),
      [
        ['m2', 'PendingApproval', 2, 'now'],
        ['m1', 'PendingApproval', 0, 5],
        ['m1', 'Approved', 5, 9],
      ],
    );
  });

  it('gives count, p50, p90 and max of the completed periods (nearest rank), and how many are in the phase now', () => {
    // ten approvals that took 1..10 hours, and one still waiting
    const changes = Array.from({ length: 10 }, (_, i) => migration(`m${i}`, [['PendingApproval', 0], ['Approved', i + 1]])).flat();
    changes.push(...migration('waiting', [['PendingApproval', 0]]));
    const stats = phaseStatistics(phasePeriods(changes));
    const approval = stats.find((s) => s.phase === 'PendingApproval')!;
    assert.deepEqual([approval.count, approval.p50Ms / HOUR, approval.p90Ms / HOUR, approval.maxMs / HOUR, approval.current], [10, 5, 9, 10, 1]);
    const approved = stats.find((s) => s.phase === 'Approved')!;
    assert.deepEqual([approved.count, approved.current], [0, 10]);
  });

  it('judges a phase by its p90 once it has enough history, and by the configured limit before', () => {
    const changes = Array.from({ length: 10 }, (_, i) => migration(`m${i}`, [['Validating', 0], ['Prepared', (i + 1) / 10]])).flat();
    const stats = phaseStatistics(phasePeriods(changes));
    assert.deepEqual(stallThreshold('Validating', stats, { minSamples: 10, limitMs: 24 * HOUR }), { thresholdMs: 0.9 * HOUR, basis: 'p90' });
    assert.deepEqual(stallThreshold('Validating', stats, { minSamples: 11, limitMs: 24 * HOUR }), { thresholdMs: 24 * HOUR, basis: 'limit' });
    assert.deepEqual(stallThreshold('Migrating', stats, { minSamples: 1, limitMs: 2 * HOUR }), { thresholdMs: 2 * HOUR, basis: 'limit' });
  });

  it('marks the migrations whose current phase has run past its threshold, longest first', () => {
    const history = Array.from({ length: 20 }, (_, i) => migration(`done${i}`, [['Validating', 0], ['Prepared', 1], ['Succeeded', 2]])).flat();
    const changes = [
      ...history,
      ...migration('slow-validation', [['Validating', 10]]),
      ...migration('quick-validation', [['Validating', 11.5]]),
      ...migration('long-approval', [['PendingApproval', 0]]),
      ...migration('fresh-approval', [['PendingApproval', 11]]),
      ...migration('ended', [['Validating', 0], ['Failed', 1]]),
    ];
    const now = T0 + 12 * HOUR;
    const stalled = stalledMigrations(phasePeriods(changes), now, { minSamples: 20, limitMs: 6 * HOUR });
    assert.deepEqual(
      stalled.map((s) => [s.migrationId, s.phase, s.elapsedMs / HOUR, s.thresholdMs / HOUR, s.basis]),
      [
        // Prepared has 20 completed periods of 1 h each, but these two are not in it
        ['long-approval', 'PendingApproval', 12, 6, 'limit'],
        ['slow-validation', 'Validating', 2, 1, 'p90'],
      ],
    );
  });
});
