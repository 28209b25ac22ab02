// Who may do what (SPEC §2): the source admin submits, prepares and migrates; the
// target admin approves or denies; a lockbox approver of the source tenant
// approves the lockbox request. Roles come from the control plane's directory.
import type { Action } from '../contracts';

export const ADMIN_ROLES = ['PowerPlatformAdmin', 'Dynamics365Admin', 'GlobalAdmin'] as const;
export const LOCKBOX_ROLES = ['LockboxApprover', 'GlobalAdmin'] as const;

interface Requirement {
  tenant: 'source' | 'target';
  roles: readonly string[];
  who: string;
}

const REQUIREMENTS: Record<Action, Requirement> = {
  submit: { tenant: 'source', roles: ADMIN_ROLES, who: 'a Power Platform or Dynamics 365 admin of the source tenant' },
  approve: { tenant: 'target', roles: ADMIN_ROLES, who: 'a Power Platform or Dynamics 365 admin of the target tenant' },
  deny: { tenant: 'target', roles: ADMIN_ROLES, who: 'a Power Platform or Dynamics 365 admin of the target tenant' },
  approveLockbox: { tenant: 'source', roles: LOCKBOX_ROLES, who: 'a lockbox approver of the source tenant' },
  requestStorage: { tenant: 'source', roles: ADMIN_ROLES, who: 'a Power Platform or Dynamics 365 admin of the source tenant' },
  prepare: { tenant: 'source', roles: ADMIN_ROLES, who: 'a Power Platform or Dynamics 365 admin of the source tenant' },
  migrate: { tenant: 'source', roles: ADMIN_ROLES, who: 'a Power Platform or Dynamics 365 admin of the source tenant' },
  cancel: { tenant: 'source', roles: ADMIN_ROLES, who: 'a Power Platform or Dynamics 365 admin of the source tenant' },
};

export function requiredTenant(action: Action): 'source' | 'target' {
  return REQUIREMENTS[action].tenant;
}

export interface DirectoryUser {
  enabled: boolean;
  roles: string[];
}

export interface AuthorizationResult {
  allowed: boolean;
  reason?: string;
}

/** `user` is the actor as found in the tenant the action belongs to (undefined: not a user there). */
export function authorizeAction(action: Action, tenantId: string, user: DirectoryUser | undefined): AuthorizationResult {
  const requirement = REQUIREMENTS[action];
  const refuse = (why: string): AuthorizationResult => ({
    allowed: false,
    reason: `${action} refused: ${why}; only ${requirement.who} (${tenantId}) may do this`,
  });
  if (!user) return refuse(`the caller is not a user of the ${requirement.tenant} tenant`);
  if (!user.enabled) return refuse('the caller\'s account is disabled');
  if (!user.roles.some((role) => requirement.roles.includes(role))) {
    return refuse(`the caller has none of the roles ${requirement.roles.join(', ')}`);
  }
  return { allowed: true };
}
