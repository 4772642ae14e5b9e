// A connection to the next stage: Info, the long-lived Step stream and the health service, all
// over one HTTP/2 channel. Failures come back as StageRpcErrors naming the stage's address.
import {
  credentials,
  status,
  type CallOptions,
  type Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ClientUnaryCall,
  type Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import { ProtocolError, StageRpcError } from './errors.ts';
import { fromServiceError } from './grpc-status.ts';
import type { InfoReply, ServingStatus, StepMessage, StepReply } from './messages.ts';
import { protoServices } from './proto-definitions.ts';
import { KEEPALIVE_MS, KEEPALIVE_TIMEOUT_MS, MAX_MESSAGE_BYTES, MAX_RECONNECT_BACKOFF_MS, RECONNECT_BACKOFF_MS } from './limits.ts';
import { secretMetadata } from './stage-secret.ts';
import { StepChannel, type StepChannelOptions } from './step-channel.ts';

/** Default deadline of Info, Check and waitForReady, in ms. */
export const DEFAULT_DEADLINE_MS = 5_000;

export interface StageClientOptions {
  /** Message size limit in bytes, both directions. Default MAX_MESSAGE_BYTES (256 MiB). */
  maxMessageBytes?: number;
  /** Keepalive ping interval in ms, also while idle; 0 disables. Default KEEPALIVE_MS (10 s). */
  keepaliveMs?: number;
  /** Keepalive ping timeout in ms. Default KEEPALIVE_TIMEOUT_MS (5 s). */
  keepaliveTimeoutMs?: number;
  /** The shared secret the stage asks for (see stage-secret.ts); undefined: none. Default undefined. */
  secret?: string;
}

type Callback<T> = (error: ServiceError | null, value?: T) => void;
// The dynamic methods that @grpc/proto-loader puts on the generated client classes.
interface StageStub extends Client {
  info(request: object, metadata: Metadata, options: CallOptions, callback: Callback<InfoReply>): ClientUnaryCall;
  step(metadata: Metadata, options?: CallOptions): ClientDuplexStream<StepMessage, StepReply>;
}
interface HealthStub extends Client {
  check(request: { service: string }, options: CallOptions, callback: Callback<{ status: ServingStatus }>): ClientUnaryCall;
  watch(request: { service: string }, options?: CallOptions): ClientReadableStream<{ status: ServingStatus }>;
}

export class StageClient {
  private readonly stage: StageStub;
  private readonly health: HealthStub;
  private readonly channels = new Set<StepChannel>();
  private readonly watches = new Set<ClientReadableStream<unknown>>();
  private closedHere = false;
  private readonly secret: string | undefined;

  /** Dials `address` (host:port) lazily: nothing connects until the first call or waitForReady. */
  constructor(
    readonly address: string,
    options: StageClientOptions = {},
  ) {
    const maxBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
    const keepalive = options.keepaliveMs ?? KEEPALIVE_MS;
    this.secret = options.secret;
    const { Stage, Health } = protoServices();
    this.stage = new Stage(address, credentials.createInsecure(), {
      'grpc.max_receive_message_length': maxBytes,
      'grpc.max_send_message_length': maxBytes,
      'grpc.initial_reconnect_backoff_ms': RECONNECT_BACKOFF_MS,
      'grpc.min_reconnect_backoff_ms': RECONNECT_BACKOFF_MS,
      'grpc.max_reconnect_backoff_ms': MAX_RECONNECT_BACKOFF_MS,
      ...(keepalive > 0
        ? {
            'grpc.keepalive_time_ms': keepalive,
            'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? KEEPALIVE_TIMEOUT_MS,
            'grpc.keepalive_permit_without_calls': 1,
          }
        : {}),
    }) as unknown as StageStub;
    this.health = new Health(address, credentials.createInsecure(), { channelOverride: this.stage.getChannel() }) as unknown as HealthStub;
  }

  /** This stage's StageInfo and those downstream of it. */
  info(deadlineMs = DEFAULT_DEADLINE_MS): Promise<InfoReply> {
    this.checkOpen();
    return new Promise((resolve, reject) => {
      this.stage.info({}, secretMetadata(this.secret), { deadline: Date.now() + deadlineMs }, (error, reply) => {
        if (error) reject(fromServiceError(error, this.address, 'Info'));
        else resolve(reply as InfoReply);
      });
    });
  }

  /** grpc.health.v1 Check of `service` ("" = the server); SERVICE_UNKNOWN when the stage does not know it. */
  check(service = '', deadlineMs = DEFAULT_DEADLINE_MS): Promise<ServingStatus> {
    this.checkOpen();
    return new Promise((resolve, reject) => {
      this.health.check({ service }, { deadline: Date.now() + deadlineMs }, (error, reply) => {
        if (error?.code === status.NOT_FOUND) resolve('SERVICE_UNKNOWN');
        else if (error) reject(fromServiceError(error, this.address, 'Health check'));
        else resolve((reply as { status: ServingStatus }).status);
      });
    });
  }

  /**
   * grpc.health.v1 Watch: `onStatus` gets the current status, then every change. `onEnd` gets the
   * error that ended the watch (null when stopped here). Returns a function that stops watching.
   */
  watchHealth(service: string, onStatus: (s: ServingStatus) => void, onEnd?: (error: StageRpcError | null) => void): () => void {
    this.checkOpen();
    const call = this.health.watch({ service });
    let stopped = false;
    this.watches.add(call);
    call.on('data', (reply: { status: ServingStatus }) => onStatus(reply.status));
    call.on('error', (error: ServiceError) => {
      this.watches.delete(call);
      onEnd?.(stopped && error.code === status.CANCELLED ? null : fromServiceError(error, this.address, 'Health watch'));
    });
    call.on('status', (s) => {
      this.watches.delete(call);
      if (s.code === status.OK) onEnd?.(null);
    });
    return () => {
      stopped = true;
      call.cancel();
    };
  }

  /** Resolves once a connection to the stage is up; a retryable `stage_unavailable` error otherwise. */
  waitForReady(deadlineMs = DEFAULT_DEADLINE_MS): Promise<void> {
    this.checkOpen();
    return new Promise((resolve, reject) => {
      this.stage.waitForReady(Date.now() + deadlineMs, (error) => {
        if (!error) resolve();
        else {
          const message = `stage ${this.address} is not reachable within ${deadlineMs} ms: ${error.message}`;
          reject(new StageRpcError('stage_unavailable', message, status.UNAVAILABLE, this.address, { cause: error }));
        }
      });
    });
  }

  /** Opens a Step stream. Hold it for the life of the pipeline; reopen it when `closed` settles. */
  openStep(options?: StepChannelOptions): StepChannel {
    this.checkOpen();
    const channel = new StepChannel(this.stage.step(secretMetadata(this.secret)), this.address, options);
    this.channels.add(channel);
    void channel.closed.then(() => this.channels.delete(channel));
    return channel;
  }

  /** Cancels open Step streams and health watches, then closes the connection. Idempotent. */
  close(): void {
    if (this.closedHere) return;
    this.closedHere = true;
    for (const channel of this.channels) channel.close();
    for (const call of this.watches) call.cancel();
    this.stage.close();
  }

  private checkOpen(): void {
    if (this.closedHere) throw new ProtocolError('client_closed', `the client of stage ${this.address} is closed`);
  }
}
