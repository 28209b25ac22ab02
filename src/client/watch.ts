// `--watch`: follows a migration, with a live progress line while validation
// or re-mapping runs (read from the running activity's last heartbeat).
import type { WorkflowHandle } from '@temporalio/client';
import type { MigrationStatus } from '../contracts';
import type { MigrationClient } from './migrations';

interface Progress {
  rowsValidated?: number;
  errors?: number;
  remapped?: number;
  line?: number;
  /** Microsoft's service: the operation's last reported status */
  lastStatus?: string;
}

export function progressLine(status: MigrationStatus, activityType: string | undefined, progress: Progress | undefined): string {
  const head = `${status.phase}${status.status ? ` · ${status.status.split(':')[0]}` : ''}`;
  if (!progress) return head;
  if (activityType === 'validateMapping' && progress.rowsValidated !== undefined) {
    return `${head} · ${progress.rowsValidated.toLocaleString('en-US')} rows validated, ${progress.errors ?? 0} errors`;
  }
  if ((activityType === 'remapUsers' || activityType === 'migrateEnvironment') && progress.remapped !== undefined) {
    return `${head} · ${progress.remapped.toLocaleString('en-US')} users re-mapped (mapping line ${progress.line})`;
  }
  if ((activityType === 'prepareOnService' || activityType === 'migrateEnvironment') && progress.lastStatus) {
    return `${head} · the migration service reports: ${progress.lastStatus}`;
  }
  return head;
}

export async function watchMigration(
  migrations: MigrationClient,
  handle: WorkflowHandle,
  settled: (s: MigrationStatus) => boolean,
  write: (s: string) => void = (s) => process.stderr.write(s),
): Promise<MigrationStatus> {
  const interactive = Boolean(process.stderr.isTTY);
  let last = '';
  const show = async (status: MigrationStatus) => {
    let activityType: string | undefined;
    let progress: Progress | undefined;
    try {
      const description = await handle.describe();
      const pending = description.raw.pendingActivities?.[0];
      activityType = pending?.activityType?.name ?? undefined;
      const payload = pending?.heartbeatDetails?.payloads?.[0];
      if (payload?.data) progress = JSON.parse(Buffer.from(payload.data).toString('utf8')) as Progress;
    } catch {
      // progress is a nicety: the status itself comes from the query
    }
    const line = progressLine(status, activityType, progress);
    if (line === last) return;
    last = line;
    write(interactive ? `\r\x1b[2K${line}` : `${line}\n`);
  };
  const final = await migrations.waitForStatus(handle, settled, 24 * 3_600_000, (s) => {
    void show(s);
  });
  if (interactive) write('\n');
  return final;
}
