// The stall check's activity (docs/operations.md): finds the migrations whose
// current phase has run past that phase's p90 (or the configured limit), sets
// the worker's gauge, and tells each running one that is not marked yet, so that
// its workflow sets T2TStalled and notifies. Safe to retry: a migration already
// marked is skipped, and a notice a workflow has already taken is ignored by it.
import { Context, log } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import { SearchAttributes } from '../contracts';
import { phaseSnapshot } from '../operations/stalls';
import { stalledSignal, type StalledNotice } from '../operations/stall-signal';

export interface StallDependencies {
  client: Client;
  config: Pick<Config, 'databaseUrl' | 'stall'>;
}

export interface StallCheckResult {
  /** migrations stalled now, running ones only */
  stalled: number;
  /** of those, told in this check (the others were marked already) */
  told: number;
}

const quoted = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export function createStallActivities(deps: StallDependencies) {
  return {
    async checkStalledMigrations(): Promise<StallCheckResult> {
      const snapshot = await phaseSnapshot(deps.config);
      const meter = Context.current().metricMeter;
      // Where the migrations are, for the dashboard (deploy/grafana): every phase seen, zero included.
      const inPhase = meter.createGauge('t2t_migrations_in_phase', 'int', 'migrations', 'Migrations in each phase, by the phase changes the control plane keeps');
      for (const [phase, count] of snapshot.inPhase) inPhase.set(count, { phase });
      const candidates = snapshot.stalled;
      let stalled = 0;
      let told = 0;
      for (const candidate of candidates.values()) {
        Context.current().heartbeat();
        // The phase changes say where a migration is; Temporal says whether it still runs.
        const query = `${SearchAttributes.sourceMigrationId.name} = ${quoted(candidate.migrationId)} AND ExecutionStatus = 'Running'`;
        let workflow: { workflowId: string; marked: boolean } | undefined;
        for await (const execution of deps.client.workflow.list({ query, pageSize: 1 })) {
          workflow = { workflowId: execution.workflowId, marked: execution.typedSearchAttributes.get(SearchAttributes.stalled) === true };
          break;
        }
        if (!workflow) continue;
        stalled += 1;
        if (workflow.marked) continue;
        const notice: StalledNotice = {
          phase: candidate.phase,
          since: candidate.since,
          elapsedMs: candidate.elapsedMs,
          thresholdMs: candidate.thresholdMs,
          basis: candidate.basis,
        };
        try {
          await deps.client.workflow.getHandle(workflow.workflowId).signal(stalledSignal, notice);
          told += 1;
        } catch (err) {
          // It ended between the look-up and the signal: nothing to mark.
          log.info('a stalled migration could not be told', { migrationId: candidate.migrationId, error: err instanceof Error ? err.message : String(err) });
        }
      }
      meter
        .createGauge('t2t_migrations_stalled', 'int', 'migrations', 'Running migrations whose current phase has run past its usual time')
        .set(stalled);
      return { stalled, told };
    },
  };
}
