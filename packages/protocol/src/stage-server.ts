// A stage's gRPC server: the chatglm.stage.v1.Stage service over the handlers a worker supplies,
// plus grpc.health.v1.Health. Handlers throw (or fail a stream with) any error; grpc-status.ts is
// the one place that turns errors into statuses.
import { Server, ServerCredentials, type ServerDuplexStream, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { ProtocolError } from './errors.ts';
import { toStatus } from './grpc-status.ts';
import { HealthState } from './health-service.ts';
import { KEEPALIVE_MS, KEEPALIVE_TIMEOUT_MS, MAX_MESSAGE_BYTES } from './limits.ts';
import { STAGE_SERVICE_NAME, type InfoReply, type ServingStatus, type StepMessage, type StepReply } from './messages.ts';
import { protoServices } from './proto-definitions.ts';
import { StageSecret } from './stage-secret.ts';
import { ServerStepStream, type StepStream } from './step-stream.ts';

export interface StageHandlers {
  /** Answers Info: this stage's StageInfo first, then those of the stages downstream. */
  info(): InfoReply | Promise<InfoReply>;
  /**
   * Serves one Step stream. If it returns a promise, the stream ends with OK when it resolves
   * (unless already ended) and with the error's status when it rejects; so an async handler must
   * await its in-flight replies before returning. If it returns nothing, it ends the stream itself.
   */
  step(stream: StepStream): void | Promise<void>;
}

export interface StageServerOptions {
  /** Initial health of the server and of the Stage service. Default 'NOT_SERVING' (still loading). */
  initialStatus?: ServingStatus;
  /** Message size limit in bytes, both directions. Default MAX_MESSAGE_BYTES (256 MiB). */
  maxMessageBytes?: number;
  /** Keepalive ping interval in ms; 0 disables. Default KEEPALIVE_MS (10 s). */
  keepaliveMs?: number;
  /** Keepalive ping timeout in ms. Default KEEPALIVE_TIMEOUT_MS (5 s). */
  keepaliveTimeoutMs?: number;
  /** A shared secret Info and Step calls must carry (see stage-secret.ts); undefined: none. Default undefined. */
  secret?: string;
}

export class StageServer {
  private readonly server: Server;
  private readonly health: HealthState;
  private readonly streams = new Set<ServerStepStream>();
  private readonly secret: StageSecret | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly handlers: StageHandlers,
    options: StageServerOptions = {},
  ) {
    const maxBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
    const keepalive = options.keepaliveMs ?? KEEPALIVE_MS;
    this.secret = options.secret === undefined ? undefined : new StageSecret(options.secret);
    this.server = new Server({
      'grpc.max_receive_message_length': maxBytes,
      'grpc.max_send_message_length': maxBytes,
      ...(keepalive > 0 ? { 'grpc.keepalive_time_ms': keepalive, 'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? KEEPALIVE_TIMEOUT_MS } : {}),
    });
    this.health = new HealthState(['', STAGE_SERVICE_NAME], options.initialStatus ?? 'NOT_SERVING');
    const { Stage, Health } = protoServices();
    this.server.addService(Stage.service, {
      info: (call: ServerUnaryCall<unknown, InfoReply>, callback: sendUnaryData<InfoReply>) => this.info(call, callback),
      step: (call: ServerDuplexStream<StepMessage, StepReply>) => this.step(call),
    });
    this.server.addService(Health.service, this.health.implementation());
  }

  /** Binds host:port (port 0: the OS picks) and resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    const address = `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, ServerCredentials.createInsecure(), (error, bound) => {
        if (error) reject(new ProtocolError('listen_failed', `cannot listen on ${address}: ${error.message}`, { cause: error }));
        else resolve(bound);
      });
    });
  }

  /**
   * Health of the whole server ("") and of the Stage service: NOT_SERVING while loading or
   * draining, SERVING when ready. Watchers hear every change.
   */
  setServing(status: ServingStatus | boolean): void {
    const next = typeof status === 'boolean' ? (status ? 'SERVING' : 'NOT_SERVING') : status;
    this.health.set('', next);
    this.health.set(STAGE_SERVICE_NAME, next);
  }

  /** Current health of a service ("" = the server); undefined for an unknown service. */
  servingStatus(service = ''): ServingStatus | undefined {
    return this.health.get(service);
  }

  /** Step streams currently open (for metrics and tests). */
  get openStreams(): number {
    return this.streams.size;
  }

  /**
   * Stops the server: reports NOT_SERVING, refuses new calls, gives open calls `graceMs` to finish,
   * then fails the remaining Step streams with a retryable `server_closed` error and cuts every
   * connection. Idempotent; every call returns the same promise.
   */
  close(graceMs = 5_000): Promise<void> {
    this.closing ??= this.shutdown(graceMs);
    return this.closing;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.health.close();
    const drained = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    if (await settlesWithin(drained, graceMs)) return;
    const reason = new ProtocolError('server_closed', 'the stage is shutting down; retry on another pipeline');
    for (const stream of this.streams) stream.fail(reason);
    // Let the failure statuses reach the peers before the connections are cut.
    if (await settlesWithin(drained, 100)) return;
    this.server.forceShutdown();
  }

  private info(call: ServerUnaryCall<unknown, InfoReply>, callback: sendUnaryData<InfoReply>): void {
    Promise.resolve()
      .then(() => {
        this.secret?.check(call.metadata);
        return this.handlers.info();
      })
      .then(
        (reply) => callback(null, reply),
        (error: unknown) => callback(toStatus(error)),
      );
  }

  private step(call: ServerDuplexStream<StepMessage, StepReply>): void {
    const stream = new ServerStepStream(call);
    this.streams.add(stream);
    call.on('close', () => this.streams.delete(stream));
    if (this.closing) {
      stream.fail(new ProtocolError('server_closed', 'the stage is shutting down'));
      return;
    }
    let result: void | Promise<void>;
    try {
      this.secret?.check(call.metadata);
      result = this.handlers.step(stream);
    } catch (error) {
      stream.fail(error);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        () => stream.end(),
        (error: unknown) => stream.fail(error),
      );
    }
  }
}

/** Creates a stage server; call listen() to serve and setServing(true) once ready. */
export function createStageServer(handlers: StageHandlers, options?: StageServerOptions): StageServer {
  return new StageServer(handlers, options);
}

function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void promise.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
