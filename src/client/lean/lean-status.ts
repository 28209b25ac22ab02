// `t2t status` and `t2t requests` without the Temporal client: the same steps (status-reader.ts) over
// the lean reader. Undefined whenever it does not apply (TLS, an API key) or the
// server says anything but an answer: the Temporal client then reads the status,
// so every error stays the one it always was.
import type { ConnectionConfig } from '../../config';
import type { ReportedStatus } from '../run-closure';
import { findRun, statusOfRun, withReversal, type ListedRun } from '../status-reader';
import { UserError } from '../user-error';
import { LeanTemporal } from './lean-temporal';

export async function leanStatus(config: ConnectionConfig, migrationId: string, env: NodeJS.ProcessEnv = process.env): Promise<ReportedStatus | undefined> {
  const reader = LeanTemporal.open(config, env);
  if (!reader) return undefined;
  try {
    return await withReversal(reader, await statusOfRun(reader, await findRun(reader, migrationId)));
  } catch (err) {
    // Our own answer (no migration has that id) is the same on either path.
    if (err instanceof UserError) throw err;
    return undefined;
  } finally {
    reader.close();
  }
}

/** The runs a visibility query lists, read as leanly; undefined where the Temporal client must answer. */
export async function leanList(config: ConnectionConfig, query: string, env: NodeJS.ProcessEnv = process.env): Promise<ListedRun[] | undefined> {
  const reader = LeanTemporal.open(config, env);
  if (!reader) return undefined;
  try {
    return await reader.list(query);
  } catch {
    return undefined;
  } finally {
    reader.close();
  }
}
