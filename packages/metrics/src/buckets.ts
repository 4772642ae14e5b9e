// Histogram buckets, in seconds, named by what they measure so that every process uses the same
// edges for the same kind of time (a dashboard's quantile is only as fine as its buckets).

/** Time to first token and end-to-end latency: from a few ms (a short prompt, idle cluster) to minutes. */
export const REQUEST_SECONDS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** Inter-token gaps and one stage's forward pass: milliseconds to a few seconds (a long prefill). */
export const STEP_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** HTTP handling time of any route: the blocking ones last as long as a whole reply. */
export const HTTP_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600];

/** Sequences per decode step: powers of two up to a large head's capacity. */
export const BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128];
