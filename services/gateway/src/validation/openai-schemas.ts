// `POST /v1/chat/completions`, the subset of OpenAI's body that ChatGLM-6B can honour. Unknown
// fields are ignored (stripped), as OpenAI's API does for fields it does not use.
import { z } from 'zod';
import { describeValue } from './describe-value.ts';
import { TOP_P_RANGE } from './api-schemas.ts';
import { optionalNumberIn, optionalSafeInteger, optionalStopList } from './fields.ts';

/** OpenAI allows at most 4 stop sequences. */
export const MAX_STOP_SEQUENCES = 4;

/** `developer` is OpenAI's newer name for `system`; both are dropped (ChatGLM-6B v1 has no system prompt). */
export const MESSAGE_ROLES = ['system', 'developer', 'user', 'assistant'] as const;

const message = z.object({
  role: z.enum(MESSAGE_ROLES),
  content: z.string(),
});
export type ChatMessage = z.output<typeof message>;

/** OpenAI's limit on top_logprobs (the pipeline's too: @chatglm/generation MAX_TOP_LOGPROBS). */
export const MAX_TOP_LOGPROBS = 20;

export const chatCompletionSchema = z.object({
  model: z.string().nullish(),
  messages: z.array(message).min(1),
  max_tokens: optionalNumberIn({ min: 1, max: Infinity, integer: true }),
  /** OpenAI's newer name for max_tokens; max_tokens wins when both are given. */
  max_completion_tokens: optionalNumberIn({ min: 1, max: Infinity, integer: true }),
  temperature: optionalNumberIn({ min: 0, max: 2 }),
  top_p: optionalNumberIn(TOP_P_RANGE),
  stop: optionalStopList(MAX_STOP_SEQUENCES),
  seed: optionalSafeInteger(),
  n: z.unknown().transform((v, ctx) => {
    if (v === undefined || v === null || v === 1) return 1;
    ctx.addIssue({ code: 'custom', message: `must be 1 (one choice per request is served), got ${describeValue(v)}` });
    return z.NEVER;
  }).optional(),
  /** Return each generated token's log-probability. */
  logprobs: z.boolean().nullish().transform((v) => v ?? false),
  /** With logprobs: also the most likely alternatives per token, 0..20. */
  top_logprobs: optionalNumberIn({ min: 0, max: MAX_TOP_LOGPROBS, integer: true }),
  stream: z.boolean().nullish().transform((v) => v ?? false),
  stream_options: z
    .object({ include_usage: z.boolean().nullish() })
    .nullish()
    .transform((v) => ({ includeUsage: v?.include_usage ?? true })),
}).superRefine((body, ctx) => {
  // As OpenAI: alternatives are a detail of logprobs, so asking for them alone is a mistake.
  if (body.top_logprobs !== undefined && !body.logprobs) ctx.addIssue({ code: 'custom', path: ['top_logprobs'], message: 'needs logprobs: true' });
});
export type ChatCompletionBody = z.output<typeof chatCompletionSchema>;
