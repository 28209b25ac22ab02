// What the control plane holds about one environment, for `world show`: its
// tenant, administration mode, and each user with the identity it was mapped from.
import type { ControlPlane, EnvironmentRecord, TenantRecord } from './control-plane';

export interface DescribedUser {
  /** the identity the user has in the environment now */
  upn: string;
  roles: string[];
  /** the source identity it was re-mapped from, if it was */
  previousUpn: string | null;
  /** what the directory of the environment's tenant says about the identity (undefined: not there) */
  directory?: { enabled: boolean; licensed: boolean; mailbox: boolean };
}

export interface EnvironmentDescription {
  environment: EnvironmentRecord;
  tenant: TenantRecord | undefined;
  /** the tenant it was migrated from, if any */
  previousTenant: TenantRecord | undefined;
  userCount: number;
  mappedUserCount: number;
  /** the first `userLimit` users (all without one), ordered by upn */
  users: DescribedUser[];
}

export async function describeEnvironment(
  controlPlane: ControlPlane,
  environmentId: string,
  options: { userLimit?: number } = {},
): Promise<EnvironmentDescription | undefined> {
  const environment = await controlPlane.getEnvironment(environmentId);
  if (!environment) return undefined;
  const [tenant, previousTenant] = await Promise.all([
    controlPlane.getTenant(environment.tenantId),
    environment.previousTenantId ? controlPlane.getTenant(environment.previousTenantId) : Promise.resolve(undefined),
  ]);
  const limit = options.userLimit ?? Infinity;
  const users: DescribedUser[] = [];
  // Every page is read for the re-mapped count anyway: the total comes from the same pages,
  // so the two counts and the list describe one moment.
  let userCount = 0;
  let mappedUserCount = 0;
  for (let afterUpn: string | undefined; ; ) {
    const page = await controlPlane.listEnvironmentUsers(environment.id, { afterUpn, limit: 1000 });
    if (page.length === 0) break;
    userCount += page.length;
    mappedUserCount += page.filter((u) => u.previousUpn !== null).length;
    const shown = page.slice(0, Math.max(0, limit - users.length));
    if (shown.length > 0) {
      const directory = await controlPlane.findTenantUsers(environment.tenantId, shown.map((u) => u.upn));
      for (const user of shown) {
        const entry = directory.get(user.upn.toLowerCase());
        users.push({
          upn: user.upn,
          roles: user.roles,
          previousUpn: user.previousUpn,
          ...(entry ? { directory: { enabled: entry.enabled, licensed: entry.licenses.length > 0, mailbox: entry.mailbox } } : {}),
        });
      }
    }
    afterUpn = page[page.length - 1].upn;
  }
  return { environment, tenant, previousTenant, userCount, mappedUserCount, users };
}
