// What a `t2t` command needs, opened lazily and closed once: configuration,
// the Temporal connection, the control plane, the migration client.
// Each library is imported by the first call that needs it: `t2t status` never loads the
// database drivers or the storage SDK, `t2t world show` never loads the Temporal client.
import type { Client, Connection } from '@temporalio/client';
import { loadActingConfig, loadConfig, loadConnectionConfig, loadListingConfig, type ActingConfig, type Config, type ConnectionConfig, type ListingConfig } from '../config';
import type { ControlPlane } from '../controlplane/control-plane';
import type { MigrationClient } from './migrations';
import { UserError } from './user-error';
import type { MigrationService } from '../service/migration-service';
import { clientConnectionOptions } from '../temporal-connection';
import type { NotificationEvent } from '../notifications/events';
import type { AuditLog } from '../controlplane/audit-log';

export class CommandContext {
  private configValue?: Config;
  private connectionValue?: ConnectionConfig;
  private connection?: Connection;
  private temporalClient?: Client;
  private controlPlaneValue?: ControlPlane;
  private migrationsValue?: MigrationClient;
  private serviceValue?: MigrationService;
  private auditLogValue?: AuditLog;
  /** whether a refusal was published: its database pool would hold the process open */
  private refusalsPublished = false;

  constructor(
    private readonly globals: { as?: string; json?: boolean },
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.actorFromEnv = env.T2T_ADMIN;
  }

  /** The whole configuration, validated when a command first reads it (a bad value: its one line, before anything is done). */
  get config(): Config {
    return (this.configValue ??= loadConfig(this.env));
  }

  /**
   * What the lean reader needs (Temporal's address, the payload keys, the data), validated alone:
   * `t2t status` need not build the whole schema to read a status.
   */
  get connectionConfig(): ConnectionConfig {
    return this.configValue ?? (this.connectionValue ??= loadConnectionConfig(this.env));
  }

  /** What `t2t requests` reads, without the whole schema where it can be (loadListingConfig); the whole configuration otherwise. */
  listingConfig(): ListingConfig {
    return this.configValue ?? loadListingConfig(this.env) ?? this.config;
  }

  /** What an action reads first (sign-in on or off, and where to sign in), without the whole schema where it can be (loadActingConfig). */
  actingConfig(): ActingConfig {
    return this.configValue ?? loadActingConfig(this.env) ?? this.config;
  }

  private readonly actorFromEnv?: string;

  get json(): boolean {
    return Boolean(this.globals.json);
  }

  /** The acting admin: --as, or T2T_ADMIN. */
  actor(): string {
    const actor = (this.globals.as ?? this.actorFromEnv ?? '').trim();
    if (!actor) throw new UserError('who is acting? pass --as <upn> or set T2T_ADMIN');
    return actor;
  }

  /** The simulated back end's control plane: the commands that act on the simulated world only. */
  async controlPlane(): Promise<ControlPlane> {
    if (this.config.backend !== 'simulated') {
      throw new UserError(`this command acts on the simulated back end's world, and T2T_BACKEND is '${this.config.backend}'`);
    }
    if (!this.controlPlaneValue) {
      const { createControlPlane } = await import('../controlplane/database');
      const controlPlane = await createControlPlane(this.config.databaseUrl);
      await controlPlane.migrateSchema();
      this.controlPlaneValue = controlPlane;
    }
    return this.controlPlaneValue;
  }

  /** The migration service the configuration names, as the worker drives it. */
  async service(): Promise<MigrationService> {
    if (!this.serviceValue) {
      const simulated = this.config.backend === 'simulated' ? { controlPlane: await this.controlPlane() } : { controlPlane: undefined as never };
      const { openMigrationService } = await import('../service');
      this.serviceValue = (await openMigrationService(this.config, simulated)).service;
    }
    return this.serviceValue;
  }

  async client(): Promise<Client> {
    if (this.temporalClient) return this.temporalClient;
    const { Client, Connection } = await import('@temporalio/client');
    // Loaded only by the commands that talk to Temporal; a key problem is one line before anything connects.
    const { payloadProtection, dataConverterOf } = await import('../codec');
    const dataConverter = dataConverterOf(payloadProtection(this.config, 'client'));
    if (!this.connection) {
      // A token that cannot be had is its own line, not "cannot reach Temporal".
      const options = await clientConnectionOptions(this.config).catch((err: Error) => {
        throw new UserError(err.message);
      });
      try {
        this.connection = await Connection.connect({ ...options, connectTimeout: 5_000 });
      } catch {
        throw new UserError(
          `cannot reach Temporal at ${this.config.temporalAddress} (namespace ${this.config.namespace}): is the stack running? (npm start)`,
        );
      }
    }
    this.temporalClient = new Client({ connection: this.connection, namespace: this.config.namespace, dataConverter });
    return this.temporalClient;
  }

  async migrations(): Promise<MigrationClient> {
    if (!this.migrationsValue) {
      const { MigrationClient } = await import('./migrations');
      const client = await this.client();
      // The service, the audit log and the publisher open only when an action needs them (a submit,
      // a refusal): reading a status needs none of them.
      this.migrationsValue = new MigrationClient({
        client,
        config: this.config,
        service: () => this.service(),
        auditLog: () => this.auditLog(),
        publish: (events) => {
          this.refusalsPublished = true;
          return refusalPublisher(client, this.config)(events);
        },
      });
    }
    return this.migrationsValue;
  }

  /** The migrations' audit trail in the control-plane database (the worker writes it; evidence packs read it). */
  async auditLog(): Promise<AuditLog> {
    const { openAuditLog } = await import('../controlplane/audit-log');
    this.auditLogValue ??= await openAuditLog(this.config.databaseUrl);
    return this.auditLogValue;
  }

  async close(): Promise<void> {
    // The refusal publisher's database, if a refusal was published: an open pool would hold the process.
    if (this.refusalsPublished) await (await import('../notifications/store')).notificationDatabase(this.config.databaseUrl).close();
    await this.auditLogValue?.close();
    await this.serviceValue?.close();
    await this.controlPlaneValue?.close();
    await this.connection?.close();
  }
}

/** Publishes the refusals the client records (Updates the migration's validator rejected) as the worker publishes its own. */
export function refusalPublisher(client: Client, config: Config): (events: NotificationEvent[]) => Promise<void> {
  return async (events) => {
    const [{ publishEvents }, { notificationDatabase }] = await Promise.all([import('../notifications/publish'), import('../notifications/store')]);
    await publishEvents({ database: notificationDatabase(config.databaseUrl), client, taskQueue: config.taskQueue, settings: config }, events);
  };
}
