// Transport limits shared by the stage server and client.

/**
 * Largest message either side accepts or sends, in bytes. gRPC's default receive limit of 4 MiB
 * is too small: a 2048-token prefill of 4096 fp32 activations is 32 MiB.
 */
export const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
/**
 * Interval of HTTP/2 keepalive pings, in ms, so that a peer that vanished without closing its
 * connection (a lost node, a partitioned pod) is noticed and its stream fails.
 */
export const KEEPALIVE_MS = 10_000;
/** How long a keepalive ping may go unanswered before the connection is dropped, in ms. */
export const KEEPALIVE_TIMEOUT_MS = 5_000;
/**
 * A client channel's reconnection backoff, in ms: its first retry and its longest wait. A stage that
 * restarts is back within seconds; grpc-js's default (1 s, growing 1.6x to 120 s) would leave the
 * channel waiting long after the stage is up, and its pipeline's streams stalled meanwhile.
 */
export const RECONNECT_BACKOFF_MS = 100;
export const MAX_RECONNECT_BACKOFF_MS = 250;
