// The stall check, started by its Schedule every T2T_STALL_CHECK_INTERVAL: one
// activity, which tells the stalled migrations (src/activities/stall-activities.ts).
import { proxyActivities } from '@temporalio/workflow';
import type { StallCheckResult, createStallActivities } from '../activities/stall-activities';

const { checkStalledMigrations } = proxyActivities<ReturnType<typeof createStallActivities>>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 3 },
  summary: 'Find stalled migrations and tell them',
});

export async function detectStalledMigrations(): Promise<StallCheckResult> {
  return checkStalledMigrations();
}
