// The stage contract (proto/chatglm/stage/v1/stage.proto) as typed TypeScript: the stage server,
// the client that dials the next stage, activation encoding and chain validation (layer ranges
// and their splits live in @chatglm/glm).
// The only package that loads the .proto files.
//
//   import { createStageServer, StageClient, encodeActivations, decodeActivations, validateChain } from '@chatglm/protocol';
//
//   // A stage: serve Info and Step, report SERVING once the weights are loaded.
//   const server = createStageServer({
//     info: async () => ({ stages: [myInfo, ...(await next.info()).stages] }),
//     step: async (stream) => {
//       for await (const message of stream) {
//         if (message.kind === 'release') { free(message.release.seqIds); continue; }   // control: no reply
//         const x = decodeActivations(message.step.entries[0]!.activations, 'ACTIVATION_DTYPE_FLOAT32', n * hidden);
//         stream.send({ stepId: message.step.stepId, results: [...], timings: [...] });
//       }
//     },
//   });
//   const port = await server.listen('0.0.0.0', 0);
//   server.setServing(true);
//
//   // The stage before it: check the chain, then keep one Step stream open.
//   const next = new StageClient('127.0.0.1:' + port);
//   validateChain({ layerStart: 0, layerEnd: 14, numLayers: 28, modelId, protocolVersion: PROTOCOL_VERSION, hiddenSize: 4096 }, (await next.info()).stages);
//   const steps = next.openStep({ onReply: (reply) => pending.get(reply.stepId)?.resolve(reply) });
//   steps.closed.then((error) => failInFlight(error)); // then reopen
//   steps.sendStep({ stepId: 1, entries: [{ seqId, phase: 'PHASE_DECODE', activations: encodeActivations(h, 'ACTIVATION_DTYPE_FLOAT32'), ... }] });
//   steps.sendRelease([seqId]);                                        // when the sequence ends
export { bytesPerActivation, decodeActivations, encodeActivations } from './activations.ts';
export { validateChain, type HeadInfo } from './chain.ts';
export { ChainError, ProtocolError, StageRpcError } from './errors.ts';
export { ERROR_CODE_TRAILER, grpcStatusOf, toStatus } from './grpc-status.ts';
export { KEEPALIVE_MS, KEEPALIVE_TIMEOUT_MS, MAX_MESSAGE_BYTES, MAX_RECONNECT_BACKOFF_MS, RECONNECT_BACKOFF_MS } from './limits.ts';
export {
  PROTOCOL_VERSION,
  STAGE_SERVICE_NAME,
  type ActivationDtype,
  type Entry,
  type InfoReply,
  type Phase,
  type Release,
  type Sampled,
  type Sampling,
  type ServingStatus,
  type StageInfo,
  type StageTiming,
  type StepError,
  type StepMessage,
  type StepReply,
  type StepRequest,
  type TokenLogprob,
} from './messages.ts';
export { PROTO_ROOT } from './proto-definitions.ts';
export { DEFAULT_DEADLINE_MS, StageClient, type StageClientOptions } from './stage-client.ts';
export { StageSecret, secretMetadata } from './stage-secret.ts';
export { StageServer, createStageServer, type StageHandlers, type StageServerOptions } from './stage-server.ts';
export { StepChannel, type StepChannelOptions } from './step-channel.ts';
export { MAX_BUFFERED_REQUESTS, type StepStream } from './step-stream.ts';
