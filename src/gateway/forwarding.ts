// The gateway's way to Temporal: the same migration client `t2t` uses (finding a
// migration by either id, the Update with its validator's refusals recorded, the
// submit's checks and its start), on a connection made with the worker's and the
// client's settings and the product's payload codec. Opened at the first
// forwarded request, and again after a failed attempt: a gateway that starts
// before Temporal (compose) serves its keys meanwhile.
import type { Client, Connection } from '@temporalio/client';
import type { Config } from '../config';
import type { ControlPlane } from '../controlplane/control-plane';
import type { AuditLog } from '../controlplane/audit-log';
import type { MigrationClient } from '../client/migrations';
import type { DelegatedTokens } from '../controlplane/delegated-tokens';
import type { AdminTokenHandover, BatchStarter, RehearsalStarter } from './server';

export interface Forwarding {
  migrations: () => Promise<MigrationClient>;
  /** batches, planned on the control plane's world (the simulated back end's, as `t2t batch submit`) */
  batches: () => Promise<BatchStarter>;
  /** rehearsals, checked and started as `t2t rehearse` does */
  rehearsals: () => Promise<RehearsalStarter>;
  /**
   * On-behalf-of: for an action whose step calls the Microsoft admin API at once, by an admin of a
   * tenant with delegatedCalls, the admin's token exchanged and left (sealed) in the control plane
   * for that action; nothing for other back ends, tenants and actions.
   */
  handOver: (handover: AdminTokenHandover) => Promise<void>;
  close: () => Promise<void>;
}

/** Opened at the first call and kept; opened again at the next call after a failed attempt. */
function openedOnce<T>(open: () => Promise<T>): { (): Promise<T>; opened(): Promise<T> | undefined } {
  let pending: Promise<T> | undefined;
  const get = () =>
    (pending ??= open().catch((err: unknown) => {
      pending = undefined;
      throw err;
    }));
  return Object.assign(get, { opened: () => pending });
}

/** `opened`: what the process already holds (the embedded stack's client, control plane and audit log). */
export function gatewayForwarding(config: Config, opened: { client?: Client; controlPlane?: ControlPlane; auditLog?: AuditLog } = {}): Forwarding {
  /** whether a refusal was published: its database pool would hold the process open */
  let refusalsPublished = false;
  const owned: { connection?: Connection; controlPlane?: ControlPlane; auditLog?: AuditLog } = {};

  const client = async (): Promise<Client> => {
    if (opened.client) return opened.client;
    const [{ Client, Connection }, { payloadProtection, dataConverterOf }, { clientConnectionOptions }] = await Promise.all([
      import('@temporalio/client'),
      import('../codec'),
      import('../temporal-connection'),
    ]);
    // As a worker: it writes migrations' inputs and actions, so without payload keys it refuses rather than writing them in clear.
    const dataConverter = dataConverterOf(payloadProtection(config, 'worker'));
    // With Temporal's own authorization on, the gateway presents its own token (renewed per call).
    owned.connection ??= await Connection.connect({ ...(await clientConnectionOptions(config)), connectTimeout: 10_000 });
    return new Client({ connection: owned.connection, namespace: config.namespace, dataConverter });
  };
  const controlPlane = async (): Promise<ControlPlane> => {
    if (opened.controlPlane) return opened.controlPlane;
    if (!owned.controlPlane) {
      const { createControlPlane } = await import('../controlplane/database');
      const created = await createControlPlane(config.databaseUrl);
      await created.migrateSchema();
      owned.controlPlane = created;
    }
    return owned.controlPlane;
  };
  const auditLog = async (): Promise<AuditLog> => {
    if (opened.auditLog) return opened.auditLog;
    const { openAuditLog } = await import('../controlplane/audit-log');
    owned.auditLog ??= await openAuditLog(config.databaseUrl);
    return owned.auditLog;
  };

  const open = async (): Promise<MigrationClient> => {
    const [{ MigrationClient }, { refusalPublisher }, { openMigrationService }] = await Promise.all([
      import('../client/migrations'),
      import('../client/context'),
      import('../service'),
    ]);
    const temporal = await client();
    let service: Promise<Awaited<ReturnType<typeof openMigrationService>>['service']> | undefined;
    return new MigrationClient({
      client: temporal,
      config,
      service: () =>
        (service ??= (async () =>
          (await openMigrationService(config, config.backend === 'simulated' ? { controlPlane: await controlPlane() } : { controlPlane: undefined as never })).service)()),
      auditLog,
      publish: (events) => {
        refusalsPublished = true;
        return refusalPublisher(temporal, config)(events);
      },
    });
  };

  const batches = async (): Promise<BatchStarter> => {
    const [{ planBatch, startBatch }, temporal, plane] = await Promise.all([import('../client/batch-submission'), client(), controlPlane()]);
    return {
      plan: (input, checkTenant) => planBatch(plane, config, input, checkTenant),
      start: (plan) => startBatch(temporal, config, plan),
    };
  };

  const delegatedTokens = openedOnce(async (): Promise<DelegatedTokens> => {
    // Its table comes with the control plane's schema.
    await controlPlane();
    return (await import('../controlplane/delegated-tokens')).openDelegatedTokens(config.databaseUrl);
  });

  const handOver = async (handover: AdminTokenHandover): Promise<void> => {
    if (config.backend !== 'microsoft' || !config.microsoft?.delegation) return;
    const { DELEGATED_ACTIONS, handOverAdminToken, takesDelegatedCalls } = await import('../microsoft/delegation');
    if (!DELEGATED_ACTIONS.has(handover.action) || !takesDelegatedCalls(config.microsoft, handover.tenantId)) return;
    await handOverAdminToken(config.microsoft, await delegatedTokens(), handover);
  };

  const openRehearsals = async (): Promise<RehearsalStarter> => {
    const [{ RehearsalClient }, { openMigrationService }, temporal] = await Promise.all([import('../client/rehearsals'), import('../service'), client()]);
    const plane = config.backend === 'simulated' ? await controlPlane() : undefined;
    const { service } = await openMigrationService(config, { controlPlane: plane as ControlPlane });
    return new RehearsalClient({ client: temporal, service, taskQueue: config.taskQueue, ...(plane ? { controlPlane: plane } : {}) });
  };

  return {
    handOver,
    batches,
    rehearsals: openedOnce(openRehearsals),
    migrations: openedOnce(open),
    close: async () => {
      await (await delegatedTokens.opened()?.catch(() => undefined))?.close();
      if (refusalsPublished) await (await import('../notifications/store')).notificationDatabase(config.databaseUrl).close();
      await owned.auditLog?.close();
      await owned.controlPlane?.close();
      await owned.connection?.close();
    },
  };
}
