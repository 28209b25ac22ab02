// What a `t2t` command needs, opened lazily and closed once: configuration,
// the Temporal connection, the control plane, the migration client.
import { Client, Connection } from '@temporalio/client';
import { loadConfig, Config } from '../config';
import { createControlPlane } from '../controlplane/database';
import type { ControlPlane } from '../controlplane/control-plane';
import { MigrationClient, UserError } from './migrations';
import type { MigrationService } from '../service/migration-service';
import { openMigrationService } from '../service';
import { temporalConnectionOptions } from '../temporal-connection';
import { publishEvents } from '../notifications/publish';
import { notificationDatabase } from '../notifications/store';
import type { NotificationEvent } from '../notifications/events';
import { openAuditLog, type AuditLog } from '../controlplane/audit-log';

export class CommandContext {
  readonly config: Config;
  private connection?: Connection;
  private temporalClient?: Client;
  private controlPlaneValue?: ControlPlane;
  private migrationsValue?: MigrationClient;
  private serviceValue?: MigrationService;
  private auditLogValue?: AuditLog;

  constructor(
    private readonly globals: { as?: string; json?: boolean },
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.config = loadConfig(env);
    this.actorFromEnv = env.T2T_ADMIN;
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
      this.serviceValue = (await openMigrationService(this.config, simulated)).service;
    }
    return this.serviceValue;
  }

  async client(): Promise<Client> {
    if (this.temporalClient) return this.temporalClient;
    // Loaded only by the commands that talk to Temporal; a key problem is one line before anything connects.
    const { payloadProtection, dataConverterOf } = await import('../codec');
    const dataConverter = dataConverterOf(payloadProtection(this.config, 'client'));
    if (!this.connection) {
      try {
        this.connection = await Connection.connect({ ...temporalConnectionOptions(this.config), connectTimeout: 5_000 });
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
    this.migrationsValue ??= new MigrationClient({
      client: await this.client(),
      config: this.config,
      service: await this.service(),
      auditLog: await this.auditLog(),
      publish: refusalPublisher(await this.client(), this.config),
    });
    return this.migrationsValue;
  }

  /** The migrations' audit trail in the control-plane database (the worker writes it; evidence packs read it). */
  async auditLog(): Promise<AuditLog> {
    this.auditLogValue ??= await openAuditLog(this.config.databaseUrl);
    return this.auditLogValue;
  }

  async close(): Promise<void> {
    // The refusal publisher's database, if a refusal was published: an open pool would hold the process.
    await notificationDatabase(this.config.databaseUrl).close();
    await this.auditLogValue?.close();
    await this.serviceValue?.close();
    await this.controlPlaneValue?.close();
    await this.connection?.close();
  }
}

/** Publishes the refusals the client records (Updates the migration's validator rejected) as the worker publishes its own. */
export function refusalPublisher(client: Client, config: Config): (events: NotificationEvent[]) => Promise<void> {
  return (events) => publishEvents({ database: notificationDatabase(config.databaseUrl), client, taskQueue: config.taskQueue, settings: config }, events);
}
