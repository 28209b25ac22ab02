// The phase changes the control plane keeps: every migration's workflow writes
// one `phase-changed` event per phase change into the notification outbox
// (src/workflows/notifications.ts), with the workflow time it happened, whether
// or not anyone subscribes. Those rows are the record stall detection and
// `t2t stats` read; this module only reads them.
import { PHASES, type Phase } from '../contracts';
import type { PhaseChange } from './phase-times';

const KNOWN_PHASES: ReadonlySet<string> = new Set(PHASES);

function phaseOf(body: string): Phase | undefined {
  try {
    const phase = (JSON.parse(body) as { data?: { phase?: unknown } }).data?.phase;
    return typeof phase === 'string' && KNOWN_PHASES.has(phase) ? (phase as Phase) : undefined;
  } catch {
    return undefined;
  }
}

/** A database without the outbox yet (no worker of this version has run on it) has no phase changes. */
export function isMissingTable(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /no such table|does not exist/i.test(message);
}

/** The phase query's SQL, for a reader without Kysely: the same rows in the same order as readPhaseChanges. */
export const PHASE_CHANGES_SQL =
  "SELECT migration_id, created_at, body FROM notification_events WHERE kind = 'phase-changed' ORDER BY created_at, event_id";

/** The phase changes of the outbox's `phase-changed` rows, in their order. */
export function phaseChangesOf(rows: { migration_id: string; created_at: string; body: string }[]): PhaseChange[] {
  const changes: PhaseChange[] = [];
  for (const row of rows) {
    const phase = phaseOf(row.body);
    if (phase) changes.push({ migrationId: row.migration_id, phase, at: row.created_at });
  }
  return changes;
}

/** Every recorded phase change, oldest first. */
export async function readPhaseChanges(databaseUrl: string): Promise<PhaseChange[]> {
  // Loaded here: `t2t requests` reads the same rows without Kysely (phaseChangesOf).
  const { openDatabase } = await import('../controlplane/database');
  const { db, release } = await openDatabase(databaseUrl);
  try {
    const rows = await db
      .selectFrom('notification_events')
      .select(['migration_id', 'created_at', 'body'])
      .where('kind', '=', 'phase-changed')
      .orderBy('created_at')
      .orderBy('event_id')
      .execute();
    return phaseChangesOf(rows);
  } catch (err) {
    if (isMissingTable(err)) return [];
    throw err;
  } finally {
    await release();
  }
}
