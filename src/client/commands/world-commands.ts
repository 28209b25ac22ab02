// world load · world show — what the control plane holds.
import { Command } from 'commander';
import type { CommandRuntime } from '../cli';
import { UserError } from '../migrations';
import { readWorldFile } from '../../controlplane/world';

export function registerWorldCommands(program: Command, runtime: CommandRuntime): void {
  const world = program.command('world').description('the control plane: tenants, users, environments');

  world
    .command('load')
    .description('replace the control plane with the contents of a world JSON file')
    .argument('<file>', 'the world file')
    .action(async (file: string) => {
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
      const environment = await controlPlane.getEnvironment(opts.environment);
      if (!environment) throw new UserError(`environment '${opts.environment}' does not exist`);
      const tenant = await controlPlane.getTenant(environment.tenantId);
      const users = [];
      for (let afterUpn: string | undefined; ; ) {
        const page = await controlPlane.listEnvironmentUsers(environment.id, { afterUpn, limit: 1000 });
        if (page.length === 0) break;
        users.push(...page);
        afterUpn = page[page.length - 1].upn;
      }
      printer.document({ environment: { ...environment, tenantName: tenant?.name }, users });
      printer.line(`${environment.name} (${environment.id}) · ${environment.type}`);
      printer.line(`  URL:      ${environment.url}`);
      printer.line(`  OrgId:    ${environment.orgId}`);
      printer.line(`  Tenant:   ${environment.tenantId}${tenant ? ` (${tenant.name})` : ''}${environment.previousTenantId ? `, moved from ${environment.previousTenantId}` : ''}`);
      printer.line(`  Administration mode: ${environment.adminMode ? 'on' : 'off'}`);
      printer.line(`  Reachable from the former tenant: ${environment.previousTenantId ? (environment.sourceAccess ? 'yes' : 'no') : 'n/a'}`);
      printer.line(`  Users (${users.length}):`);
      for (const u of users) printer.line(`    ${u.upn}${u.previousUpn ? `  ← ${u.previousUpn}` : ''}  [${u.roles.join(', ')}]`);
    });
}
