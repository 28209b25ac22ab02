// stats — how long each phase takes, and which migrations are stalled.
import { Command } from 'commander';
import type { CommandRuntime } from '../cli';
import { formatDuration } from '../../duration';


export function registerStatsCommands(program: Command, runtime: CommandRuntime): void {
  program
    .command('stats')
    .description("each phase's count, p50, p90 and max over every migration the control plane has seen, and the stalled migrations")
    .action(async () => {
      const [{ readPhaseChanges }, { phasePeriods, phaseStatistics, stalledMigrations, stallThreshold }] = await Promise.all([
        import('../../operations/phase-history'),
        import('../../operations/phase-times'),
      ]);
      const context = runtime.context();
      const settings = { limitMs: context.config.stall.limitMs, minSamples: context.config.stall.minSamples };
      const periods = phasePeriods(await readPhaseChanges(context.config.databaseUrl));
      const statistics = phaseStatistics(periods);
      const stalled = stalledMigrations(periods, Date.now(), settings);
      const printer = runtime.printer();
      printer.document({
        phases: statistics.map((s) => {
          const threshold = stallThreshold(s.phase, statistics, settings);
          return { ...s, stallAfterMs: threshold.thresholdMs, stallBasis: threshold.basis };
        }),
        stalled,
        settings,
      });
      if (statistics.length === 0) {
        printer.line('No phase changes recorded yet.');
        return;
      }
      const ms = (n: number, count: number) => (count === 0 ? '-' : formatDuration(n < 1_000 ? n : Math.round(n / 1_000) * 1_000));
      printer.line(`${'phase'.padEnd(20)}${'count'.padStart(7)}${'p50'.padStart(10)}${'p90'.padStart(10)}${'max'.padStart(10)}${'now'.padStart(6)}  stalled after`);
      for (const s of statistics) {
        const threshold = stallThreshold(s.phase, statistics, settings);
        const basis = threshold.basis === 'p90' ? 'p90' : `limit, fewer than ${settings.minSamples} done`;
        printer.line(
          `${s.phase.padEnd(20)}${String(s.count).padStart(7)}${ms(s.p50Ms, s.count).padStart(10)}${ms(s.p90Ms, s.count).padStart(10)}${ms(s.maxMs, s.count).padStart(10)}${String(s.current).padStart(6)}  ${formatDuration(threshold.thresholdMs)} (${basis})`,
        );
      }
      printer.line();
      if (stalled.length === 0) printer.line('No migration is stalled.');
      else printer.line(`${stalled.length} stalled:`);
      printer.list(
        stalled.map((s) => `  ${s.migrationId}  ${s.phase} for ${formatDuration(Math.max(1_000, Math.round(s.elapsedMs / 1_000) * 1_000))} (stalled after ${formatDuration(s.thresholdMs)}, ${s.basis})`),
        (hidden) => `  and ${hidden} more: see --json`,
      );
    });
}
