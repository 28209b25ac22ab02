// world load · world show — what the control plane holds.
import { Command } from 'commander';
import type { CommandRuntime } from '../cli';
import { UserError } from '../user-error';
import type { DescribedUser } from '../../controlplane/describe';

export function registerWorldCommands(program: Command, runtime: CommandRuntime): void {
  const world = program.command('world').description('the control plane: tenants, users, environments');

  world
    .command('load')
    .description('replace the control plane with the contents of a world JSON file')
    .argument('<file>', 'the world file')
    .action(async (file: string) => {
      const { readWorldFile } = await import('../../controlplane/world');
      const parsed = await readWorldFile(file);
      const controlPlane = await runtime.context().controlPlane();
      await controlPlane.loadWorld(parsed);
      const printer = runtime.printer();
      const users = parsed.tenants.reduce((n, t) => n + t.users.length, 0);
      printer.document({ tenants: parsed.tenants.length, users, environments: parsed.environments.length });
      printer.line(`Loaded ${parsed.tenants.length} tenants, ${users} users, ${parsed.environments.length} environments.`);
    });

  world
    .command('show')
    .description("what the control plane holds now: an environment's tenant, users and their mapped identities, administration mode")
    .option('--environment <id>', 'one environment')
    .action(async (opts: { environment?: string }) => {
      const controlPlane = await runtime.context().controlPlane();
      const printer = runtime.printer();
      if (!opts.environment) {
        const tenants = await controlPlane.listTenants();
        const environments = await controlPlane.listEnvironments();
        printer.document({ tenants, environments: environments.map(({ components: _c, ...e }) => e) });
        for (const t of tenants) {
          printer.line(`Tenant ${t.id} · ${t.name} · ${t.cloud}${t.geo ? ` · ${t.geo}` : ''} · ${t.defaultDomain}${t.lockboxEnabled ? ' · lockbox' : ''}`);
          for (const e of environments.filter((env) => env.tenantId === t.id)) {
            printer.line(`  ${e.id} · ${e.name} · ${e.type} · ${e.url}${e.adminMode ? ' · administration mode' : ''}`);
          }
        }
        return;
      }
      const { describeEnvironment } = await import('../../controlplane/describe');
      const described = await describeEnvironment(controlPlane, opts.environment);
      if (!described) throw new UserError(`environment '${opts.environment}' does not exist`);
      const { environment, tenant, previousTenant, users } = described;
      printer.document({
        environment: { ...environment, tenantName: tenant?.name, previousTenantName: previousTenant?.name },
        userCount: described.userCount,
        mappedUserCount: described.mappedUserCount,
        users,
      });
      printer.line(`${environment.name} (${environment.id}) · ${environment.type}`);
      printer.line(`  URL:      ${environment.url}`);
      printer.line(`  OrgId:    ${environment.orgId}`);
      const movedFrom = environment.previousTenantId ? `, moved from ${environment.previousTenantId}${previousTenant ? ` (${previousTenant.name})` : ''}` : '';
      printer.line(`  Tenant:   ${environment.tenantId}${tenant ? ` (${tenant.name})` : ''}${movedFrom}`);
      printer.line(`  Administration mode: ${environment.adminMode ? 'on' : 'off'}`);
      printer.line(`  Reachable from the former tenant: ${environment.previousTenantId ? (environment.sourceAccess ? 'yes' : 'no') : 'n/a'}`);
      printer.line(`  Users (${described.userCount}, ${described.mappedUserCount} re-mapped):`);
      for (const u of users) {
        printer.line(`    ${u.upn}${u.previousUpn ? `  ← ${u.previousUpn}` : ''}  [${u.roles.join(', ')}]${directoryNote(u)}`);
      }
    });
}

/** What the environment's tenant directory says against a user, when something is off. */
function directoryNote(user: DescribedUser): string {
  if (!user.directory) return '  (not in the tenant\'s directory)';
  const problems = [
    ...(user.directory.enabled ? [] : ['disabled']),
    ...(user.directory.licensed ? [] : ['no licence']),
    ...(user.directory.mailbox ? [] : ['no mailbox']),
  ];
  return problems.length > 0 ? `  (${problems.join(', ')})` : '';
}
