// What a `t2t` command needs, opened lazily and closed once: configuration,
// the Temporal connection, the control plane, the migration client.
import { Client, Connection } from '@temporalio/client';
import { loadConfig, Config } from '../config';
import { createControlPlane } from '../controlplane/database';
import type { ControlPlane } from '../controlplane/control-plane';
import { MigrationClient, UserError } from './migrations';
import { temporalConnectionOptions } from '../temporal-connection';

export class CommandContext {
  readonly config: Config;
  private connection?: Connection;
  private controlPlaneValue?: ControlPlane;
  private migrationsValue?: MigrationClient;

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

  async controlPlane(): Promise<ControlPlane> {
    if (!this.controlPlaneValue) {
      const controlPlane = await createControlPlane(this.config.databaseUrl);
      await controlPlane.migrateSchema();
      this.controlPlaneValue = controlPlane;
    }
    return this.controlPlaneValue;
  }

  async client(): Promise<Client> {
    if (!this.connection) {
      try {
        this.connection = await Connection.connect({ ...temporalConnectionOptions(this.config), connectTimeout: 5_000 });
      } catch {
        throw new UserError(
          `cannot reach Temporal at ${this.config.temporalAddress} (namespace ${this.config.namespace}): is the stack running? (npm start)`,
        );
      }
    }
    return new Client({ connection: this.connection, namespace: this.config.namespace });
  }

  async migrations(): Promise<MigrationClient> {
    this.migrationsValue ??= new MigrationClient({
      client: await this.client(),
      config: this.config,
      controlPlane: await this.controlPlane(),
    });
    return this.migrationsValue;
  }

  async close(): Promise<void> {
    await this.controlPlaneValue?.close();
    await this.connection?.close();
  }
}
