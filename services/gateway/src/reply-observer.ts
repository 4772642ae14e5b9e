// What one followed request looked like to its client: when its first text left, the gaps between
// later texts, how it ended. Fed the same events the response is written from, right after writing.
import type { StreamedEvent } from '@chatglm/queue';
import type { Endpoint, GatewayMetrics } from './gateway-metrics.ts';

export class ReplyObserver {
  private lastTextAt: number | undefined;
  /** Tokens generated when the last text was sent. */
  private tokensAtLastText = 0;

  /**
   * `receivedAt`: performance.now() when the HTTP request arrived. A resumed stream's first text is
   * no first token (its request began on an earlier connection), so it times no first token.
   */
  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly endpoint: Endpoint,
    private readonly receivedAt: number,
    private readonly resumed = false,
  ) {}

  /** After an event was sent to the client (or, for blocking routes, taken into its reply). */
  event(e: StreamedEvent): void {
    const now = performance.now();
    const labels = { endpoint: this.endpoint };
    if (e.type === 'delta') {
      // A delta may carry no text (held back, logprobs only), and text held back for a while
      // arrives with several tokens at once: the gap is shared among the tokens since the last text.
      if (!e.text) return;
      if (this.lastTextAt === undefined) {
        if (!this.resumed) this.metrics.timeToFirstToken.observe(labels, (now - this.receivedAt) / 1000);
      } else {
        const tokens = Math.max(1, e.completionTokens - this.tokensAtLastText);
        const perToken = (now - this.lastTextAt) / 1000 / tokens;
        for (let i = 0; i < tokens; i++) this.metrics.interTokenLatency.observe(labels, perToken);
      }
      this.lastTextAt = now;
      this.tokensAtLastText = e.completionTokens;
    } else if (e.type === 'final') {
      this.metrics.finished.inc({ ...labels, finish_reason: e.finishReason });
      this.metrics.requestDuration.observe({ ...labels, finish_reason: e.finishReason }, (now - this.receivedAt) / 1000);
      this.metrics.completionTokens.inc(labels, e.completionTokens);
    } else this.metrics.errors.inc({ code: e.code });
  }
}
