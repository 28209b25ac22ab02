// The mapping benchmark's directory join through Microsoft Graph: the same
// directory as directory-table.ts (source tenant u<n>@contoso.com, target
// tenant u<n>@fabrikam.com in the seeded states), served by the Graph fake on
// local HTTP in the benchmark's own process, a generated million users per
// tenant so that the fake costs no memory. The validating child uses the
// product's Graph directory as deployed: a few $batch look-ups, then each
// tenant read once by users/delta into a snapshot and the rest joined locally.
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { validateMapping } from '../../src/mapping/validator';
import { createErrorReportStream } from '../../src/mapping/report';
import { createDirectoryChecker } from '../../src/mapping/directory';
import { GraphClient } from '../../src/microsoft/graph';
import { createGraphDirectory } from '../../src/microsoft/graph-directory';
import {
  createGraphRoutes,
  E3_SKU,
  GRAPH_FAKE_TOKENS,
  GraphFakeState,
  serveGraphOverHttp,
  type FakeGraphUser,
  type GeneratedUsers,
} from '../../test/fakes/graph-routes';
import { USER_DISABLED, USER_UNLICENSED } from './directory-table';

export const SOURCE_TENANT = 'source';
export const TARGET_TENANT = 'target';

const LICENSED = [{ skuId: E3_SKU }];
const UNLICENSED: { skuId: string }[] = [];

/** user n of a tenant: u<n>@<domain>, id `<tag>0000000-0000-4000-8000-<n in hex>` */
function benchUsers(domain: string, tag: string, count: number, states?: Uint8Array): GeneratedUsers {
  const suffix = `@${domain}`;
  const idPrefix = `${tag}0000000-0000-4000-8000-`;
  return {
    count,
    userAt(i: number): FakeGraphUser {
      const upn = `u${i}${suffix}`;
      const state = states ? states[i] : 0;
      return {
        id: `${idPrefix}${i.toString(16).padStart(12, '0')}`,
        userPrincipalName: upn,
        accountEnabled: state !== USER_DISABLED,
        assignedLicenses: state === USER_UNLICENSED ? UNLICENSED : LICENSED,
        mail: upn,
        proxyAddresses: [`SMTP:${upn}`],
      };
    },
    indexOf(address: string) {
      const digits = /^u(0|[1-9]\d*)@(.+)$/.exec(address);
      if (!digits || `@${digits[2]}` !== suffix) return undefined;
      const n = Number(digits[1]);
      return n < count ? n : undefined;
    },
    indexOfId(id: string) {
      if (!id.toLowerCase().startsWith(idPrefix)) return undefined;
      const n = Number.parseInt(id.slice(idPrefix.length), 16);
      return Number.isInteger(n) && n < count ? n : undefined;
    },
  };
}

export interface GraphDirectoryServer {
  url: string;
  state: GraphFakeState;
  close(): Promise<void>;
}

/** The fake with both tenants of the generated mapping (`targetStates` as generateMapping made them). */
export async function startGraphDirectoryServer(targetStates: Uint8Array): Promise<GraphDirectoryServer> {
  const state = new GraphFakeState();
  state.setUsers(SOURCE_TENANT, benchUsers('contoso.com', 'a', targetStates.length));
  state.setUsers(TARGET_TENANT, benchUsers('fabrikam.com', 'b', targetStates.length, targetStates));
  const server = await serveGraphOverHttp(createGraphRoutes(state));
  return { url: server.url, state, close: () => server.close() };
}

export interface GraphRunResult {
  rows: number;
  errors: number;
  /** users held and bytes of the two snapshots, when the run switched to them */
  snapshotUsers: number;
  snapshotBytes: number;
}

/** Child process: the full validation of `file` with the directory on Graph at `url`, the report streamed to `reportFile`. */
export async function validateThroughGraph(file: string, reportFile: string, url: string): Promise<GraphRunResult> {
  const directory = createGraphDirectory(new GraphClient({ baseUrl: url, tokens: GRAPH_FAKE_TOKENS }));
  const report = createErrorReportStream();
  const written = once(report.pipe(createWriteStream(reportFile)), 'finish');
  const result = await validateMapping({
    fileName: 'usermapping.csv',
    open: () => createReadStream(file),
    directory: createDirectoryChecker(directory, SOURCE_TENANT, TARGET_TENANT),
    onError: (error) => report.writeError(error),
    onProgress: () => undefined,
  });
  report.end();
  await written;
  const stats = [SOURCE_TENANT, TARGET_TENANT].map((t) => directory.snapshotStats(t) ?? { users: 0, bytes: 0 });
  return {
    rows: result.rows,
    errors: result.errors,
    snapshotUsers: stats[0].users + stats[1].users,
    snapshotBytes: stats[0].bytes + stats[1].bytes,
  };
}
