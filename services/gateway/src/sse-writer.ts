// Server-sent events as OpenAI streams them: `data: <json>\n\n` per chunk, `data: [DONE]` at the end.
import type { Response } from 'express';

export class SseWriter {
  constructor(private readonly res: Response) {}

  /** Sends the headers now so the client sees the stream open before the first token. */
  open(): void {
    this.res.status(200);
    this.res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    this.res.setHeader('Cache-Control', 'no-cache');
    this.res.setHeader('Connection', 'keep-alive');
    // Reverse proxies (nginx) would otherwise buffer the stream.
    this.res.setHeader('X-Accel-Buffering', 'no');
    this.res.flushHeaders();
  }

  /** One event; `id` (optional) is what a reconnecting client sends back as Last-Event-ID. */
  data(value: unknown, id?: string): void {
    if (!this.res.writableEnded) this.res.write(`${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(value)}\n\n`);
  }

  /** A comment line: keeps idle connections (and proxies) from timing out; clients ignore it. */
  comment(text: string): void {
    if (!this.res.writableEnded) this.res.write(`: ${text}\n\n`);
  }

  done(): void {
    if (!this.res.writableEnded) this.res.end('data: [DONE]\n\n');
  }

  end(): void {
    if (!this.res.writableEnded) this.res.end();
  }
}
