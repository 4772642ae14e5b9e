// Every error code of the cluster, in one table: what the HTTP gateway answers for it, the gRPC
// status a stage fails a call with, and whether the same work may succeed when tried again
// (elsewhere or later). A code is an API contract (clients and metrics see it), so codes are typed:
// an error can only be raised with a code listed here, and both status mappings are read from here.

/** gRPC status names (grpc.status in @grpc/grpc-js); kept as names so this package needs no gRPC. */
export type GrpcStatusName =
  | 'CANCELLED'
  | 'INVALID_ARGUMENT'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'OUT_OF_RANGE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED';

export interface ErrorCodeInfo {
  /** The HTTP status a client gets for it. */
  readonly http: number;
  /** The gRPC status a stage answers with. */
  readonly grpc: GrpcStatusName;
  /** True when retrying the same work (on another pipeline, or later) may succeed. */
  readonly retryable: boolean;
  /** When it happens. */
  readonly meaning: string;
}

const code = (http: number, grpc: GrpcStatusName, retryable: boolean, meaning: string): ErrorCodeInfo => ({ http, grpc, retryable, meaning });

export const ERROR_CODES = Object.freeze({
  // A request the client got wrong.
  invalid_request: code(400, 'INVALID_ARGUMENT', false, 'a missing field, a wrong type or a value out of range'),
  invalid_json: code(400, 'INVALID_ARGUMENT', false, 'the body is not JSON'),
  context_length_exceeded: code(400, 'OUT_OF_RANGE', false, 'the prompt plus the reply asked for do not fit the context (of the model, or of the pipeline\'s cache)'),
  invalid_sampling_params: code(400, 'INVALID_ARGUMENT', false, 'sampling parameters out of range'),
  invalid_prompt: code(400, 'INVALID_ARGUMENT', false, 'prompt ids lack [gMASK]/[MASK] or <sop>'),
  payload_too_large: code(413, 'RESOURCE_EXHAUSTED', false, 'the body is larger than the limit'),
  unsupported_media_type: code(415, 'INVALID_ARGUMENT', false, 'the body is not sent as JSON (Content-Type: application/json)'),
  unauthorized: code(401, 'UNAUTHENTICATED', false, 'API keys are on and the request has none, or one that is not accepted'),
  origin_not_allowed: code(403, 'PERMISSION_DENIED', false, 'a browser asked from an origin that is not on the CORS allow-list'),
  not_found: code(404, 'NOT_FOUND', false, 'no such route'),
  model_not_found: code(404, 'NOT_FOUND', false, 'the model asked for is not served here'),
  request_not_found: code(404, 'NOT_FOUND', false, 'no request with that id (unknown, or expired)'),
  duplicate_request_id: code(409, 'ALREADY_EXISTS', false, 'the caller-chosen request id is in use'),
  // Admission and the gateway's own limits.
  queue_full: code(429, 'RESOURCE_EXHAUSTED', true, 'too many requests wait in the queue'),
  rate_limited: code(429, 'RESOURCE_EXHAUSTED', true, 'the API key sent more requests this minute than its limit'),
  concurrency_limited: code(429, 'RESOURCE_EXHAUSTED', true, 'the API key has as many unfinished requests as its limit; one must end first'),
  no_pipeline: code(503, 'UNAVAILABLE', true, 'no pipeline has sent a heartbeat recently'),
  redis_unavailable: code(503, 'UNAVAILABLE', true, 'Redis does not answer'),
  shutting_down: code(503, 'UNAVAILABLE', true, 'the gateway is stopping while the request waits'),
  request_timeout: code(504, 'DEADLINE_EXCEEDED', true, 'no reply within the request timeout; the request was cancelled'),
  request_expired: code(500, 'INTERNAL', false, 'the request\'s record expired while the gateway waited for it'),
  internal_error: code(500, 'INTERNAL', true, 'an unexpected failure; the log has the details'),
  // A pipeline that failed a request.
  pipeline_lost: code(503, 'UNAVAILABLE', true, 'a stage of the pipeline went away mid-request'),
  job_failed: code(503, 'UNAVAILABLE', true, 'the request failed on every attempt (its heads kept dying)'),
  duplicate_request: code(500, 'ALREADY_EXISTS', false, 'a head was given a request it already runs'),
  missing_result: code(500, 'INTERNAL', false, 'a step came back without a token for one of its sequences'),
  kv_capacity: code(503, 'RESOURCE_EXHAUSTED', true, 'a stage has no free KV cache slot or room'),
  unknown_sequence: code(503, 'NOT_FOUND', true, 'a stage holds no cache for the sequence (it restarted, or never saw its prefill)'),
  duplicate_sequence: code(500, 'ALREADY_EXISTS', false, 'a prefill for a sequence that already holds a KV slot'),
  unknown_step: code(500, 'NOT_FOUND', false, 'a reply for a step that is not in flight'),
  invalid_step: code(500, 'INVALID_ARGUMENT', false, 'a malformed step (mixed phases, missing tokens or parameters)'),
  invalid_step_id: code(500, 'INVALID_ARGUMENT', false, 'a step id that is not a non-negative safe integer'),
  invalid_activations: code(500, 'INVALID_ARGUMENT', false, 'activations of the wrong size for the step'),
  invalid_dtype: code(500, 'INVALID_ARGUMENT', false, 'an activation dtype the stage cannot use'),
  stage_not_ready: code(503, 'UNAVAILABLE', true, 'the stage has not finished loading'),
  stage_crashed: code(503, 'UNAVAILABLE', true, 'the stage\'s runtime thread died'),
  stage_closed: code(503, 'UNAVAILABLE', true, 'the stage was closed'),
  stage_internal: code(500, 'INTERNAL', false, 'a stage failed in an unexpected way'),
  // A failed call to another stage, by the gRPC status it ended with.
  stage_unavailable: code(503, 'UNAVAILABLE', true, 'the stage cannot be reached, or its stream broke'),
  stage_deadline_exceeded: code(504, 'DEADLINE_EXCEEDED', true, 'the stage did not answer in time'),
  stage_cancelled: code(503, 'CANCELLED', true, 'the call was cancelled'),
  stage_resource_exhausted: code(503, 'RESOURCE_EXHAUSTED', true, 'the stage is out of a resource'),
  stage_unimplemented: code(500, 'UNIMPLEMENTED', false, 'the stage does not know the call'),
  stage_invalid_argument: code(500, 'INVALID_ARGUMENT', false, 'the stage refused the call as malformed'),
  stage_not_found: code(500, 'NOT_FOUND', false, 'the stage does not know what the call names'),
  stream_closed: code(503, 'UNAVAILABLE', true, 'the Step stream is over'),
  server_closed: code(503, 'UNAVAILABLE', true, 'the stage is shutting down'),
  client_closed: code(500, 'FAILED_PRECONDITION', false, 'a call on a stage client that was closed'),
  reply_handler_failed: code(500, 'INTERNAL', false, 'the code handling a Step reply threw'),
  listen_failed: code(500, 'UNAVAILABLE', false, 'a stage cannot listen on its address'),
  // A deployment, model file or command line that is wrong (fails at start-up).
  invalid_argument: code(400, 'INVALID_ARGUMENT', false, 'a bad command-line flag'),
  invalid_chain: code(500, 'FAILED_PRECONDITION', false, 'the stages of a pipeline do not form one model'),
  invalid_pipeline: code(500, 'FAILED_PRECONDITION', false, 'in-process stages that do not form one model'),
  invalid_layers: code(400, 'INVALID_ARGUMENT', false, 'a layer range outside the model, or a split that cannot be made'),
  invalid_stage_spec: code(400, 'INVALID_ARGUMENT', false, 'stage settings that cannot work (capacity, prefix, bundle)'),
  device_unavailable: code(500, 'FAILED_PRECONDITION', false, 'the device a stage was asked to run on is not usable here (e.g. no Vulkan adapter for webgpu)'),
  invalid_scheduler: code(500, 'FAILED_PRECONDITION', false, 'scheduler settings that cannot work'),
  invalid_model_config: code(500, 'FAILED_PRECONDITION', false, 'a config.json that is not ChatGLM-6B\'s'),
  invalid_checkpoint: code(500, 'FAILED_PRECONDITION', false, 'a damaged, truncated or unsupported checkpoint'),
  invalid_bundle: code(500, 'FAILED_PRECONDITION', false, 'a stage bundle that does not match its manifest or the request'),
  invalid_prefix: code(500, 'FAILED_PRECONDITION', false, 'a P-tuning v2 prefix that does not fit the model'),
  unknown_layer: code(500, 'NOT_FOUND', false, 'a layer this stage does not hold'),
  tokenizer_model_invalid: code(500, 'FAILED_PRECONDITION', false, 'not a SentencePiece model'),
  tokenizer_piece_missing: code(500, 'FAILED_PRECONDITION', false, 'the tokenizer lacks a ChatGLM piece'),
  tokenizer_id_out_of_range: code(500, 'OUT_OF_RANGE', false, 'a token id outside the vocabulary'),
} satisfies Record<string, ErrorCodeInfo>);

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** What a code means for HTTP, gRPC and retrying. */
export function errorCodeInfo(code: ErrorCode): ErrorCodeInfo {
  return ERROR_CODES[code];
}

/** A code read from outside (Redis, a gRPC trailer) as a typed code; unknown ones become `fallback`. */
export function toErrorCode(value: unknown, fallback: ErrorCode = 'internal_error'): ErrorCode {
  return isErrorCode(value) ? value : fallback;
}
