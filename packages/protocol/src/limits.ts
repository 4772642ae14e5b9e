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
 * Reconnection backoff to a stage, in ms: the first retry and the longest wait, for a client
 * channel and for the head's link that reopens its Step stream. A restarted stage is back within
 * about a second, and every moment waited after that stalls the pipeline's streams (a try costs one
 * refused local connection, or one Info call); grpc-js's default (1 s, growing 1.6x to 120 s) left
 * the channel waiting long after the stage was up.
 */
export const RECONNECT_BACKOFF_MS = 100;
export const MAX_RECONNECT_BACKOFF_MS = 250;
