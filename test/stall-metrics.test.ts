// The stall check's gauges (t2t_migrations_stalled, t2t_migrations_in_phase) as
// its activity sets them through the SDK's metric meter, on a real control-plane
// database of phase changes; Temporal is a recording stand-in here (the dev-server
// test in stalls.test.ts drives the real one).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Client } from '@temporalio/client';
import type { MetricGauge, MetricMeter, MetricTags } from '@temporalio/common';
import { createControlPlane } from '../src/controlplane/database';
import { notificationDatabase } from '../src/notifications/store';
import type { NotificationEvent } from '../src/notifications/events';
import { createStallActivities } from '../src/activities/stall-activities';

const HOUR = 3_600_000;

/** Records every value a gauge is set to, with its tags. */
function recordingMeter(): { meter: MetricMeter; gauges: Map<string, { value: number; tags: MetricTags }[]> } {
  const gauges = new Map<string, { value: number; tags: MetricTags }[]>();
  const unused = () => {
    throw new Error('not used by the stall check');
  };
  const meter: MetricMeter = {
    createCounter: unused,
    createHistogram: unused,
    createGauge(name: string): MetricGauge {
      const sets = gauges.get(name) ?? [];
      gauges.set(name, sets);
      return { name, kind: 'gauge', valueType: 'int', set: (value: number, tags: MetricTags = {}) => sets.push({ value, tags }), withTags: unused } as unknown as MetricGauge;
    },
    withTags: () => meter,
  };
  return { meter, gauges };
}

function phaseChange(migrationId: string, phase: string, at: number): NotificationEvent {
  return {
    id: `${migrationId}:phase:${phase}`,
    kind: 'phase-changed',
    time: new Date(at).toISOString(),
    tenants: ['t-source'],
    migration: { migrationId, targetMigrationId: `${migrationId}-target`, environmentId: `env-${migrationId}`, targetTenantId: 't-target' },
    data: { phase },
  };
}

describe('stall check metrics', () => {
  it('sets t2t_migrations_stalled to the running stalled migrations and t2t_migrations_in_phase per phase', async () => {
    const databaseUrl = path.join(mkdtempSync(path.join(os.tmpdir(), 't2t-stall-metrics-')), 'control-plane.sqlite');
    const cp = await createControlPlane(databaseUrl);
    await cp.migrateSchema();
    await cp.close();
    const now = Date.now();
    await notificationDatabase(databaseUrl).use((store) =>
      store.recordEvents([
        phaseChange('stuck', 'PendingApproval', now - 3 * HOUR),
        phaseChange('ended-without-workflow', 'Validating', now - 5 * HOUR),
        phaseChange('fresh', 'PendingApproval', now - 60_000),
        phaseChange('done', 'PendingApproval', now - 9 * HOUR),
        phaseChange('done', 'Succeeded', now - 8 * HOUR),
      ]),
    );
    await notificationDatabase(databaseUrl).close();

    // Temporal as the activity sees it: `stuck` runs unmarked; `ended-without-workflow` has no running workflow.
    const signalled: string[] = [];
    const client = {
      workflow: {
        async *list({ query }: { query: string }) {
          if (query.includes("'stuck'")) yield { workflowId: 't2t-env-stuck', typedSearchAttributes: { get: () => undefined } };
        },
        getHandle: (workflowId: string) => ({ signal: async () => void signalled.push(workflowId) }),
      },
    } as unknown as Client;

    const { meter, gauges } = recordingMeter();
    const activities = createStallActivities({ client, config: { databaseUrl, stall: { limitMs: HOUR, minSamples: 20, checkIntervalMs: 60_000 } } });
    const result = await new MockActivityEnvironment(undefined, { metricMeter: meter }).run(activities.checkStalledMigrations);

    assert.deepEqual(result, { stalled: 1, told: 1 });
    assert.deepEqual(signalled, ['t2t-env-stuck']);
    assert.deepEqual(gauges.get('t2t_migrations_stalled')?.map((s) => s.value), [1]);
    const inPhase = Object.fromEntries((gauges.get('t2t_migrations_in_phase') ?? []).map((s) => [s.tags.phase, s.value]));
    assert.deepEqual(inPhase, { PendingApproval: 2, Validating: 1 });
  });
});
