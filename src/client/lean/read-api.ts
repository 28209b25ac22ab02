// The handful of Temporal API messages `t2t status` reads, as a reduced protobuf
// descriptor: the Temporal client builds a reflection of the whole API when it
// loads (about 40% of a status's CPU), where these calls need a few fields of a
// few messages. Each field keeps Temporal's own number and wire type (a test holds
// every one to @temporalio/proto's descriptor); fields left out are skipped when a
// reply is decoded, as protobuf does with any field a reader does not know.
// Enums are read as their numbers (int32 has the same wire form).

import type { WireField } from '../../wire-format';

interface TypeSpec {
  /** the message of Temporal's API this one reads */
  source: string;
  fields: Record<string, WireField>;
}

export const READ_TYPES: Record<string, TypeSpec> = {
  Timestamp: { source: 'google.protobuf.Timestamp', fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
  Payload: { source: 'temporal.api.common.v1.Payload', fields: { metadata: { keyType: 'string', type: 'bytes', id: 1 }, data: { type: 'bytes', id: 2 } } },
  Payloads: { source: 'temporal.api.common.v1.Payloads', fields: { payloads: { rule: 'repeated', type: 'Payload', id: 1 } } },
  WorkflowExecution: { source: 'temporal.api.common.v1.WorkflowExecution', fields: { workflowId: { type: 'string', id: 1 }, runId: { type: 'string', id: 2 } } },
  Memo: { source: 'temporal.api.common.v1.Memo', fields: { fields: { keyType: 'string', type: 'Payload', id: 1 } } },
  SearchAttributes: { source: 'temporal.api.common.v1.SearchAttributes', fields: { indexedFields: { keyType: 'string', type: 'Payload', id: 1 } } },
  WorkflowExecutionInfo: {
    source: 'temporal.api.workflow.v1.WorkflowExecutionInfo',
    fields: {
      execution: { type: 'WorkflowExecution', id: 1 },
      startTime: { type: 'Timestamp', id: 3 },
      closeTime: { type: 'Timestamp', id: 4 },
      status: { type: 'int32', id: 5 },
      memo: { type: 'Memo', id: 10 },
      searchAttributes: { type: 'SearchAttributes', id: 11 },
    },
  },
  ListWorkflowExecutionsRequest: {
    source: 'temporal.api.workflowservice.v1.ListWorkflowExecutionsRequest',
    fields: { namespace: { type: 'string', id: 1 }, pageSize: { type: 'int32', id: 2 }, nextPageToken: { type: 'bytes', id: 3 }, query: { type: 'string', id: 4 } },
  },
  ListWorkflowExecutionsResponse: {
    source: 'temporal.api.workflowservice.v1.ListWorkflowExecutionsResponse',
    fields: { executions: { rule: 'repeated', type: 'WorkflowExecutionInfo', id: 1 }, nextPageToken: { type: 'bytes', id: 2 } },
  },
  WorkflowQuery: { source: 'temporal.api.query.v1.WorkflowQuery', fields: { queryType: { type: 'string', id: 1 }, queryArgs: { type: 'Payloads', id: 2 } } },
  QueryRejected: { source: 'temporal.api.query.v1.QueryRejected', fields: { status: { type: 'int32', id: 1 } } },
  QueryWorkflowRequest: {
    source: 'temporal.api.workflowservice.v1.QueryWorkflowRequest',
    fields: { namespace: { type: 'string', id: 1 }, execution: { type: 'WorkflowExecution', id: 2 }, query: { type: 'WorkflowQuery', id: 3 } },
  },
  QueryWorkflowResponse: {
    source: 'temporal.api.workflowservice.v1.QueryWorkflowResponse',
    fields: { queryResult: { type: 'Payloads', id: 1 }, queryRejected: { type: 'QueryRejected', id: 2 } },
  },
  DescribeWorkflowExecutionRequest: {
    source: 'temporal.api.workflowservice.v1.DescribeWorkflowExecutionRequest',
    fields: { namespace: { type: 'string', id: 1 }, execution: { type: 'WorkflowExecution', id: 2 } },
  },
  DescribeWorkflowExecutionResponse: {
    source: 'temporal.api.workflowservice.v1.DescribeWorkflowExecutionResponse',
    fields: { workflowExecutionInfo: { type: 'WorkflowExecutionInfo', id: 2 } },
  },
  GetWorkflowExecutionHistoryRequest: {
    source: 'temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryRequest',
    fields: { namespace: { type: 'string', id: 1 }, execution: { type: 'WorkflowExecution', id: 2 }, historyEventFilterType: { type: 'int32', id: 6 } },
  },
  GetWorkflowExecutionHistoryResponse: { source: 'temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryResponse', fields: { history: { type: 'History', id: 1 } } },
  History: { source: 'temporal.api.history.v1.History', fields: { events: { rule: 'repeated', type: 'HistoryEvent', id: 1 } } },
  HistoryEvent: {
    source: 'temporal.api.history.v1.HistoryEvent',
    fields: {
      eventTime: { type: 'Timestamp', id: 2 },
      workflowExecutionFailedEventAttributes: { type: 'WorkflowExecutionFailedEventAttributes', id: 8 },
      workflowExecutionTerminatedEventAttributes: { type: 'WorkflowExecutionTerminatedEventAttributes', id: 27 },
      workflowExecutionContinuedAsNewEventAttributes: { type: 'WorkflowExecutionContinuedAsNewEventAttributes', id: 33 },
    },
  },
  WorkflowExecutionTerminatedEventAttributes: {
    source: 'temporal.api.history.v1.WorkflowExecutionTerminatedEventAttributes',
    fields: { reason: { type: 'string', id: 1 }, identity: { type: 'string', id: 3 } },
  },
  WorkflowExecutionFailedEventAttributes: { source: 'temporal.api.history.v1.WorkflowExecutionFailedEventAttributes', fields: { failure: { type: 'Failure', id: 1 } } },
  Failure: { source: 'temporal.api.failure.v1.Failure', fields: { message: { type: 'string', id: 1 } } },
  WorkflowExecutionContinuedAsNewEventAttributes: {
    source: 'temporal.api.history.v1.WorkflowExecutionContinuedAsNewEventAttributes',
    fields: { newExecutionRunId: { type: 'string', id: 1 } },
  },
  // An admin's action: the Update, sent and answered in one call (sent again with the same id until answered).
  UpdateWaitPolicy: { source: 'temporal.api.update.v1.WaitPolicy', fields: { lifecycleStage: { type: 'int32', id: 1 } } },
  UpdateMeta: { source: 'temporal.api.update.v1.Meta', fields: { updateId: { type: 'string', id: 1 }, identity: { type: 'string', id: 2 } } },
  UpdateInput: { source: 'temporal.api.update.v1.Input', fields: { name: { type: 'string', id: 2 }, args: { type: 'Payloads', id: 3 } } },
  UpdateRequest: { source: 'temporal.api.update.v1.Request', fields: { meta: { type: 'UpdateMeta', id: 1 }, input: { type: 'UpdateInput', id: 2 } } },
  UpdateOutcome: { source: 'temporal.api.update.v1.Outcome', fields: { success: { type: 'Payloads', id: 1 }, failure: { type: 'Failure', id: 2 } } },
  UpdateWorkflowExecutionRequest: {
    source: 'temporal.api.workflowservice.v1.UpdateWorkflowExecutionRequest',
    fields: {
      namespace: { type: 'string', id: 1 },
      workflowExecution: { type: 'WorkflowExecution', id: 2 },
      waitPolicy: { type: 'UpdateWaitPolicy', id: 4 },
      request: { type: 'UpdateRequest', id: 5 },
    },
  },
  UpdateWorkflowExecutionResponse: {
    source: 'temporal.api.workflowservice.v1.UpdateWorkflowExecutionResponse',
    fields: { outcome: { type: 'UpdateOutcome', id: 2 }, stage: { type: 'int32', id: 3 } },
  },
};

/** UpdateWorkflowExecutionLifecycleStage: the Update has run and its outcome is known. */
export const UPDATE_STAGE_COMPLETED = 3;

/** The service's methods these reads call, by their gRPC path. */
export const WORKFLOW_SERVICE = '/temporal.api.workflowservice.v1.WorkflowService/';

/** WorkflowExecutionStatus, by number, in the words the Temporal client uses (`execution.status.name`). */
export const EXECUTION_STATUS = ['UNSPECIFIED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED', 'CONTINUED_AS_NEW', 'TIMED_OUT', 'PAUSED'] as const;
