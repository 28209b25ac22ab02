// Who a migration moved, left out, or left with a mailbox to reconfigure:
// computed from the control plane, where this personal data lives, so that
// workflow histories carry only counts.
import type { ControlPlane } from '../controlplane/control-plane';
import { rewriteOnmicrosoftAddress } from './mailboxes';

export interface MigrationPeople {
  mailboxesConfigured: string[];
  mailboxesToReconfigure: string[];
  onmicrosoftAddressesRewritten: { from: string; to: string }[];
  /** users of the environment not in the mapping: not migrated */
  unmappedUsers: string[];
}

export async function migrationPeople(
  controlPlane: ControlPlane,
  migration: { migrationId: string; environmentId: string; sourceTenantId: string; targetTenantId: string },
): Promise<MigrationPeople> {
  const [sourceTenant, targetTenant] = await Promise.all([
    controlPlane.getTenant(migration.sourceTenantId),
    controlPlane.getTenant(migration.targetTenantId),
  ]);
  if (!sourceTenant || !targetTenant) throw new Error('a tenant of this migration no longer exists');
  const people: MigrationPeople = { mailboxesConfigured: [], mailboxesToReconfigure: [], onmicrosoftAddressesRewritten: [], unmappedUsers: [] };
  const remaps = await controlPlane.listRemaps(migration.migrationId);
  for (let i = 0; i < remaps.length; i += 500) {
    const batch = remaps.slice(i, i + 500);
    const targets = await controlPlane.findTenantUsers(targetTenant.id, batch.map((r) => r.targetUpn));
    for (const remap of batch) {
      if (targets.get(remap.targetUpn.toLowerCase())?.mailbox) people.mailboxesConfigured.push(remap.targetUpn);
      else people.mailboxesToReconfigure.push(remap.targetUpn);
      const to = rewriteOnmicrosoftAddress(remap.sourceUpn, sourceTenant.defaultDomain, targetTenant.defaultDomain);
      if (to) people.onmicrosoftAddressesRewritten.push({ from: remap.sourceUpn, to });
    }
  }
  for (let afterUpn: string | undefined; ; ) {
    const page = await controlPlane.listEnvironmentUsers(migration.environmentId, { afterUpn, limit: 1000 });
    if (page.length === 0) break;
    for (const user of page) if (user.previousUpn === null) people.unmappedUsers.push(user.upn);
    afterUpn = page[page.length - 1].upn;
  }
  return people;
}
