// Records ⇄ rows of the control-plane tables.
import type { Cloud, EnvironmentComponents, MigrationRequestRecord, RequestApprovalStatus, EnvironmentRecord, EnvironmentType, EnvironmentUserRecord, TenantRecord, TenantUserRecord } from './control-plane';
import type { MigrationRequestsTable, EnvironmentsTable, EnvironmentUsersTable, TenantsTable, TenantUsersTable } from './database';
import type { WorldEnvironment, WorldTenant, WorldTenantUser } from './world';

/** UPNs compare case-insensitively: every look-up goes through this key. */
export const upnKey = (upn: string): string => upn.trim().toLowerCase();

const flag = (value: boolean): number => (value ? 1 : 0);
// pg returns integers as numbers, but a driver may hand back booleans or strings.
const isSet = (value: unknown): boolean => value === true || Number(value) === 1;
const list = (json: string): string[] => JSON.parse(json) as string[];

const NO_COMPONENTS: EnvironmentComponents = {
  flows: [], canvasApps: [], bots: [], websites: [], marketing: false, unsupported: [],
  customConnectors: [], connections: [], gateways: [], settings: [],
};

export function tenantRow(tenant: WorldTenant): TenantsTable {
  return {
    id: tenant.id,
    name: tenant.name,
    cloud: tenant.cloud,
    geo: tenant.geo ?? null,
    default_domain: tenant.defaultDomain,
    domains: JSON.stringify(tenant.domains),
    lockbox_enabled: flag(tenant.lockboxEnabled),
    escalation_contact: tenant.escalationContact ?? null,
  };
}

export function tenantUserRow(tenantId: string, user: WorldTenantUser): TenantUsersTable {
  return {
    tenant_id: tenantId,
    upn: user.upn,
    upn_key: upnKey(user.upn),
    enabled: flag(user.enabled),
    licenses: JSON.stringify(user.licenses),
    mailbox: flag(user.mailbox),
    roles: JSON.stringify(user.roles),
  };
}

export function environmentRow(environment: WorldEnvironment): EnvironmentsTable {
  return {
    id: environment.id,
    name: environment.name,
    type: environment.type,
    url: environment.url,
    org_id: environment.orgId,
    tenant_id: environment.tenantId,
    admin_mode: flag(environment.adminMode),
    geo: environment.geo ?? null,
    managed: flag(environment.managed),
    linked_to_finance_operations: flag(environment.linkedToFinanceOperations),
    source_access: 1,
    previous_tenant_id: null,
    components: JSON.stringify(environment.components),
    copy_of: null,
  };
}

export function environmentUserRow(environmentId: string, user: WorldEnvironment['users'][number]): EnvironmentUsersTable {
  return {
    environment_id: environmentId,
    upn: user.upn,
    upn_key: upnKey(user.upn),
    roles: JSON.stringify(user.roles),
    previous_upn: null,
  };
}

export function toTenant(row: TenantsTable): TenantRecord {
  return {
    id: row.id,
    name: row.name,
    cloud: row.cloud as Cloud,
    geo: row.geo,
    defaultDomain: row.default_domain,
    domains: list(row.domains),
    lockboxEnabled: isSet(row.lockbox_enabled),
    ...(row.escalation_contact ? { escalationContact: row.escalation_contact } : {}),
  };
}

export function toTenantUser(row: TenantUsersTable): TenantUserRecord {
  return {
    tenantId: row.tenant_id,
    upn: row.upn,
    enabled: isSet(row.enabled),
    licenses: list(row.licenses),
    mailbox: isSet(row.mailbox),
    roles: list(row.roles),
  };
}

export function toEnvironment(row: EnvironmentsTable): EnvironmentRecord {
  return {
    id: row.id,
    name: row.name,
    type: row.type as EnvironmentType,
    url: row.url,
    orgId: row.org_id,
    tenantId: row.tenant_id,
    adminMode: isSet(row.admin_mode),
    geo: row.geo,
    managed: isSet(row.managed),
    linkedToFinanceOperations: isSet(row.linked_to_finance_operations),
    sourceAccess: isSet(row.source_access),
    previousTenantId: row.previous_tenant_id,
    // Rows written before a component kind existed read as having none of it.
    components: { ...NO_COMPONENTS, ...(JSON.parse(row.components) as Partial<EnvironmentComponents>) },
    ...(row.copy_of ? { copyOf: row.copy_of } : {}),
  };
}

export function toEnvironmentUser(row: EnvironmentUsersTable): EnvironmentUserRecord {
  return {
    environmentId: row.environment_id,
    upn: row.upn,
    roles: list(row.roles),
    previousUpn: row.previous_upn,
  };
}

export function toMigrationRequest(row: MigrationRequestsTable): MigrationRequestRecord {
  return {
    id: row.id,
    environmentId: row.environment_id,
    sourceTenantId: row.source_tenant_id,
    targetTenantId: row.target_tenant_id,
    createdOn: row.created_on,
    createdBy: row.created_by,
    approvalStatus: row.approval_status as RequestApprovalStatus,
    actedBy: row.acted_by,
  };
}
