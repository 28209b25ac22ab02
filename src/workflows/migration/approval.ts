// Steps 2 and 3, the people's decisions: the target tenant admin's approval before its
// deadline, then, when the environment needs one, the lockbox approval. Either may also
// come from the migration service (the watch). False when the migration ends here.
import { isFinalPhase } from '../../contracts';
import { handleActions } from './actions';
import { cancel } from './ending';
import { tellService, watchRequest } from './service';
import type { Migration } from './state';

export async function awaitApproval(m: Migration): Promise<boolean> {
  const deadline = Date.parse(m.state.submittedAt) + m.input.approvalTimeoutMs;
  m.state.approvalDeadline = new Date(deadline).toISOString();
  m.setPhase('PendingApproval');
  const outcome = await handleActions(m, {
    handlers: {
      approve: async (_payload, actor) => tellService(m, 'approveOnService', 'Approve the request on the migration service', { actor }),
      deny: async (payload, actor) => {
        const reason = String(payload.reason ?? '') || 'denied by the target tenant admin';
        const told = await tellService(m, 'denyOnService', 'Deny the request on the migration service', { actor, reason });
        if (told !== 'done') return told;
        m.state.reason = reason;
        m.setPhase('Denied');
        return 'done';
      },
      cancel: async (payload, actor) => cancel(m, payload, actor),
    },
    deadline: () => deadline,
    timerSummary: 'approval deadline',
    watch: () => watchRequest(m, true),
  });
  if (outcome === 'timeout') {
    m.state.reason = 'the target tenant admin did not approve the request in time';
    m.setPhase('Expired');
    return false;
  }
  return !isFinalPhase(m.state.phase);
}

export async function awaitLockbox(m: Migration): Promise<boolean> {
  // Absolute, so that a run continued from this one keeps the same deadline.
  const deadline = m.state.lockboxDeadline ? Date.parse(m.state.lockboxDeadline) : Date.now() + m.input.lockboxTimeoutMs;
  m.state.lockboxDeadline = new Date(deadline).toISOString();
  m.setPhase('PendingLockbox');
  const outcome = await handleActions(m, {
    handlers: {
      approveLockbox: async (_payload, actor) => tellService(m, 'approveLockboxOnService', 'Record the lockbox approval with the migration service', { actor }),
      cancel: async (payload, actor) => cancel(m, payload, actor),
    },
    deadline: () => deadline,
    timerSummary: 'lockbox deadline',
    watch: () => watchRequest(m, false),
  });
  if (outcome === 'timeout') {
    m.state.reason = 'the lockbox request was not approved in time';
    m.setPhase('Expired');
    return false;
  }
  return !isFinalPhase(m.state.phase);
}
