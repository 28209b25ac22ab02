// better-sqlite3 runs each query synchronously on the calling thread, and
// Kysely resolves it in a microtask: a loop of queries (a re-mapping of
// 100,000 users, its undo, the mailbox pass) never lets the event loop turn.
// In the worker that thread also carries the SDK's polls and the other
// migrations' workflow tasks; without a turn they waited as long as the loop
// ran (24.8 s seen, past the 10 s workflow task timeout, and the server
// reporting the worker down). This plugin gives the event loop a turn after
// each few milliseconds of back-to-back queries, wherever they come from:
// every loop over the control plane is covered, not only the ones known today.
//
// Why not the alternatives: a worker thread for SQLite would put every query of
// the process behind a message channel (and the shared-connection rules of
// database.ts in two threads); fewer concurrent activities or a task queue of
// their own for heavy activities would not stop the one heavy activity from
// holding the thread that this worker's workflow tasks need.
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { createYielder } from '../mapping/event-loop';

/** longest run of back-to-back queries before the event loop gets a turn */
export const QUERY_RUN_MS = 10;

export class EventLoopTurns implements KyselyPlugin {
  private readonly turn = createYielder(QUERY_RUN_MS);

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    // Inside a transaction too: other queries of this process wait on Kysely's
    // connection mutex meanwhile (asynchronously), other processes on the busy timeout.
    await this.turn();
    return args.result;
  }
}
