// One durable workflow per migration, reading like the article's steps:
// submit → approval → lockbox → storage + prepare rounds in the seven-day window →
// migrate (undone if a step fails for good, then prepare again) → the ending.
// A cancellation through Temporal ends it like `t2t cancel` until migrate starts.
import { condition, setHandler } from '@temporalio/workflow';
import { MigrationInput, MigrationStatus, grantMigrateSlotSignal, statusQuery, submittedUpdate } from '../../contracts';
import { stalledSignal } from '../../operations/stall-signal';
import { awaitApproval, awaitLockbox } from './approval';
import { slotGranted } from './batch-slot';
import { forgedStartRefusal, refuseStart, runToAnEnd } from './ending';
import { migrate } from './migrate';
import { prepareUntilMigrate } from './prepare';
import { startRefusal } from './proofs';
import { Migration } from './state';
import { submit } from './submit';

export async function tenantMigration(input: MigrationInput): Promise<MigrationStatus> {
  const m = new Migration(input);
  listen(m);
  if (!m.resumed) m.setPhase('Submitted');
  if (m.forged) return refuseStart(m, ...forgedStartRefusal(m.forged, m.input));
  const unsigned = await startRefusal(m);
  if (unsigned) return refuseStart(m, unsigned, "a start without the gateway's valid proof of submit (sign-in is on)");
  return runToAnEnd(m, async () => {
    if (m.before('PendingApproval') && !(await submit(m))) return;
    if (m.before('PendingLockbox') && !(await awaitApproval(m))) return;
    if (m.before('Approved') && m.state.lockboxRequired && !(await awaitLockbox(m))) return;
    if (m.before('Approved')) m.setPhase('Approved');
    while (await prepareUntilMigrate(m)) if ((await migrate(m)) === 'ended') return;
  });
}

/** The messages a migration takes: the admin actions (queued), its status, the stall check's notice and its batch's grant. */
function listen(m: Migration): void {
  m.inbox.register();
  setHandler(statusQuery, () => m.state);
  setHandler(submittedUpdate, async () => {
    await condition(() => m.state.phase !== 'Submitted');
    return m.state;
  });
  setHandler(stalledSignal, (notice) => m.markStalled(notice));
  if (m.input.batch) setHandler(grantMigrateSlotSignal, (payload) => slotGranted(m, payload));
}
