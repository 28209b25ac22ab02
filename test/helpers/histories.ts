// Saved workflow histories: recorded from real runs (T2T_RECORD_HISTORIES=1),
// committed under test/histories, and replayed against the current workflow code.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { temporal } from '@temporalio/proto';
import type { ActionProof } from '../../src/identity/action-proof';
import { projectRoot } from '../../src/temporal-binaries';

export const HISTORIES_DIR = path.join(projectRoot(), 'test', 'histories');

export async function recordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (process.env.T2T_RECORD_HISTORIES !== '1') return;
  const history = await handle.fetchHistory();
  mkdirSync(HISTORIES_DIR, { recursive: true });
  writeFileSync(path.join(HISTORIES_DIR, `${name}.json`), historyToJSON(history));
}

/** An admin's action as a migration's history holds it: its name, and the payload it came with. */
export interface ActionInHistory {
  kind: 'signal' | 'update';
  name: string;
  arg: { actor?: string; proof?: ActionProof } & Record<string, unknown>;
}

/** The admins' actions a migration's history holds, in order: signals, and accepted Updates besides the submit's own. */
export function actionsIn(events: temporal.api.history.v1.IHistoryEvent[]): ActionInHistory[] {
  const found: ActionInHistory[] = [];
  for (const e of events) {
    const update = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
    if (update && update.name !== 'submitted') found.push({ kind: 'update', name: String(update.name), arg: defaultPayloadConverter.fromPayload(update.args!.payloads![0]) });
    const signal = e.workflowExecutionSignaledEventAttributes;
    if (signal) found.push({ kind: 'signal', name: String(signal.signalName), arg: defaultPayloadConverter.fromPayload(signal.input!.payloads![0]) });
  }
  return found;
}
