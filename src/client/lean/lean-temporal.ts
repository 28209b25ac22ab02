// A lean reader of Temporal for `t2t status`: gRPC (grpc-call.ts) with the reduced descriptor of
// read-api.ts instead of the Temporal client, which builds a reflection of the
// whole API when it loads. It reads (lists, queries, describes, a close event) and
// sends an admin's action as its Update. Every payload it hands back passes through
// decodePayload and every one it sends through encodePayload, the one place each a
// payload codec plugs in. Only plain connections: with TLS or an API key
// (temporal-connection.ts) the Temporal client answers.
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { ConnectionConfig } from '../../config';
import { temporalConnectionOptions } from '../../temporal-connection';
import os from 'node:os';
import { DEADLINE_EXCEEDED, GrpcCallError, GrpcChannel } from './grpc-call';
import { EXECUTION_STATUS, READ_TYPES, UPDATE_STAGE_COMPLETED, WORKFLOW_SERVICE } from './read-api';
import { WireCodec } from '../../wire-format';
import type { CloseEvent, ListedRun, RunDescription, RunRef, TemporalReads } from '../status-reader';

interface RawPayload {
  metadata?: Record<string, Uint8Array>;
  data?: Uint8Array;
}

/**
 * A payload as the workflow's data converter wrote it, decoded: the payload codec's decode
 * (src/codec/: decryption), then JSON (json/plain) or nothing (binary/null). The one decode
 * step of this path.
 */
export async function decodePayload(codec: PayloadCodec, raw: RawPayload | undefined): Promise<unknown> {
  const payload = raw && ((await codec.decode([raw as Payload]))[0] as RawPayload);
  const encoding = payload?.metadata?.encoding && Buffer.from(payload.metadata.encoding).toString();
  if (!payload || encoding === 'binary/null') return undefined;
  if (encoding !== 'json/plain') throw new Error(`a payload in encoding '${encoding}', which this reader does not decode`);
  return JSON.parse(Buffer.from(payload.data ?? []).toString('utf8'));
}

/** A value as the workflow's data converter reads it: JSON (json/plain), then the payload codec's encode. The one encode step of this path. */
export async function encodePayload(codec: PayloadCodec, value: unknown): Promise<RawPayload> {
  const [encoded] = await codec.encode([{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify(value)) }]);
  return encoded as RawPayload;
}

/** A search attribute's value: the server's own JSON, never passed through a codec. */
function searchAttributeValue(payload: RawPayload | undefined): unknown {
  return payload?.data ? JSON.parse(Buffer.from(payload.data).toString('utf8')) : undefined;
}

interface Timestamp {
  seconds?: number | { toNumber(): number };
  nanos?: number;
}

function dateOf(t: Timestamp | undefined): Date | undefined {
  if (!t || t.seconds == null) return undefined;
  const seconds = typeof t.seconds === 'number' ? t.seconds : t.seconds.toNumber();
  return new Date(seconds * 1000 + Math.floor((t.nanos ?? 0) / 1e6));
}

interface RawInfo {
  execution?: { workflowId?: string; runId?: string };
  startTime?: Timestamp;
  closeTime?: Timestamp;
  status?: number;
  memo?: { fields?: Record<string, RawPayload> };
  searchAttributes?: { indexedFields?: Record<string, RawPayload> };
}

/** How long one call may take; a failure of this path hands the command to the Temporal client. */
const CALL_DEADLINE_MS = 10_000;
/** How long one send of an Update may wait for its outcome before it is sent again. */
const UPDATE_CALL_MS = 60_000;


export class LeanTemporal implements TemporalReads {
  private constructor(
    private readonly grpc: GrpcChannel,
    private readonly wire: WireCodec,
    private readonly namespace: string,
    private readonly codec: PayloadCodec,
  ) {}

  /** A reader for this configuration, or undefined when the connection needs TLS or an API key. */
  static open(config: ConnectionConfig, env: NodeJS.ProcessEnv = process.env): LeanTemporal | undefined {
    const options = temporalConnectionOptions(config, env);
    if (options.tls !== undefined || options.apiKey || options.metadata || config.temporalToken) return undefined;
    let codec: PayloadCodec;
    try {
      // The same codec the Temporal client's path uses (context.ts); a key problem is its one line there.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      codec = (require('../../codec') as typeof import('../../codec')).payloadProtection(config, 'client').codec;
    } catch {
      return undefined;
    }
    return new LeanTemporal(new GrpcChannel(options.address), new WireCodec(READ_TYPES), config.namespace, codec);
  }

  close(): void {
    this.grpc.close();
  }

  /**
   * Runs an Update and answers its outcome: the value it returned, or the failure its validator or
   * handler gave. Sent again with the same id until the server has the outcome (a call that timed
   * out, an answer before completion): the server runs an Update id once and answers every send of it.
   */
  async update(run: RunRef, name: string, arg: unknown, updateId: string, timeoutMs: number): Promise<{ value: unknown } | { failure: string }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const reply = await this.call<{ outcome?: { success?: { payloads?: RawPayload[] }; failure?: { message?: string } }; stage?: number }>(
          'UpdateWorkflowExecution',
          {
            namespace: this.namespace,
            workflowExecution: { workflowId: run.workflowId, runId: run.runId ?? '' },
            waitPolicy: { lifecycleStage: UPDATE_STAGE_COMPLETED },
            request: { meta: { updateId, identity: `${process.pid}@${os.hostname()}` }, input: { name, args: { payloads: [await encodePayload(this.codec, arg)] } } },
          },
          UPDATE_CALL_MS,
        );
        if (reply.outcome?.failure) return { failure: reply.outcome.failure.message ?? '' };
        if (reply.outcome?.success) return { value: await decodePayload(this.codec, reply.outcome.success.payloads?.[0]) };
      } catch (err) {
        if (!(err instanceof GrpcCallError) || err.code !== DEADLINE_EXCEEDED) throw err;
      }
      if (Date.now() >= deadline) throw new Error(`the Update ${updateId} had no outcome within ${timeoutMs} ms`);
    }
  }

  private async call<T>(method: string, request: object, deadlineMs = CALL_DEADLINE_MS): Promise<T> {
    const reply = await this.grpc.unary(WORKFLOW_SERVICE + method, this.wire.encode(`${method}Request`, request), deadlineMs);
    return this.wire.decode(`${method}Response`, reply) as T;
  }

  async list(query: string): Promise<ListedRun[]> {
    const runs: ListedRun[] = [];
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await this.call<{ executions?: RawInfo[]; nextPageToken?: Uint8Array }>('ListWorkflowExecutions', { namespace: this.namespace, query, nextPageToken });
      for (const info of page.executions ?? []) runs.push(await listedRun(this.codec, info));
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
    return runs;
  }

  async query(run: RunRef, queryType: string): Promise<unknown> {
    const reply = await this.call<{ queryResult?: { payloads?: RawPayload[] }; queryRejected?: { status?: number } }>('QueryWorkflow', {
      namespace: this.namespace,
      execution: { workflowId: run.workflowId, runId: run.runId ?? '' },
      query: { queryType },
    });
    // The Temporal client says why a query was rejected in its own words: let it.
    if (reply.queryRejected) throw new Error(`query rejected (${EXECUTION_STATUS[reply.queryRejected.status ?? 0]})`);
    return decodePayload(this.codec, reply.queryResult?.payloads?.[0]);
  }

  async describe(run: RunRef): Promise<RunDescription> {
    const reply = await this.call<{ workflowExecutionInfo?: RawInfo }>('DescribeWorkflowExecution', {
      namespace: this.namespace,
      execution: { workflowId: run.workflowId, runId: run.runId ?? '' },
    });
    const listed = await listedRun(this.codec, reply.workflowExecutionInfo ?? {});
    return { workflowId: listed.workflowId, runId: listed.runId, statusName: listed.statusName, closeTime: listed.closeTime };
  }

  async closeEvent(run: RunRef): Promise<CloseEvent | undefined> {
    const reply = await this.call<{ history?: { events?: RawEvent[] } }>('GetWorkflowExecutionHistory', {
      namespace: this.namespace,
      execution: { workflowId: run.workflowId, runId: run.runId ?? '' },
      historyEventFilterType: 2, // HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT
    });
    const event = reply.history?.events?.[0];
    if (!event) return undefined;
    return {
      at: dateOf(event.eventTime),
      terminatedBy: event.workflowExecutionTerminatedEventAttributes?.identity || undefined,
      terminatedReason: event.workflowExecutionTerminatedEventAttributes?.reason || undefined,
      failureMessage: event.workflowExecutionFailedEventAttributes?.failure?.message || undefined,
      continuedAsNewRunId: event.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId || undefined,
    };
  }
}

interface RawEvent {
  eventTime?: Timestamp;
  workflowExecutionTerminatedEventAttributes?: { identity?: string; reason?: string };
  workflowExecutionFailedEventAttributes?: { failure?: { message?: string } };
  workflowExecutionContinuedAsNewEventAttributes?: { newExecutionRunId?: string };
}

async function listedRun(codec: PayloadCodec, info: RawInfo): Promise<ListedRun> {
  const attributes = info.searchAttributes?.indexedFields ?? {};
  const memo = info.memo?.fields;
  return {
    workflowId: info.execution?.workflowId ?? '',
    runId: info.execution?.runId ?? '',
    statusName: EXECUTION_STATUS[info.status ?? 0] ?? 'UNSPECIFIED',
    startTime: dateOf(info.startTime) ?? new Date(0),
    closeTime: dateOf(info.closeTime),
    keyword: (name) => searchAttributeValue(attributes[name]) as string | undefined,
    memo: memo ? Object.fromEntries(await Promise.all(Object.entries(memo).map(async ([key, payload]) => [key, await decodePayload(codec, payload)]))) : undefined,
  };
}
