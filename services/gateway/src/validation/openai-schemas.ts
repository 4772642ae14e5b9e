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

/**
 * A message's content: a string, or OpenAI's content parts, of which ChatGLM-6B reads text only
 * (`[{type: "text", text}]`, joined in order); an image or audio part is refused by name.
 */
const content = z.unknown().transform((v, ctx): string => {
  if (typeof v === 'string') return v;
  if (v === undefined) {
    ctx.addIssue({ code: 'custom', message: 'is required' });
    return z.NEVER;
  }
  if (!Array.isArray(v)) {
    ctx.addIssue({ code: 'custom', message: `must be a string or an array of {type: "text", text} parts, got ${describeValue(v)}` });
    return z.NEVER;
  }
  const texts: string[] = [];
  for (const [i, part] of v.entries()) {
    const p = part as { type?: unknown; text?: unknown } | null;
    if (p && typeof p === 'object' && p.type === 'text' && typeof p.text === 'string') texts.push(p.text);
    else if (p && typeof p === 'object' && typeof p.type === 'string') {
      ctx.addIssue({ code: 'custom', path: [i, 'type'], message: `"${p.type}" parts are not supported: ChatGLM-6B reads text only` });
      return z.NEVER;
    } else {
      ctx.addIssue({ code: 'custom', path: [i], message: `must be a {type: "text", text: string} part, got ${describeValue(part)}` });
      return z.NEVER;
    }
  }
  return texts.join('');
});

const message = z.object({
  role: z.enum(MESSAGE_ROLES),
  content,
});

/** A field of OpenAI's API that asks for something this model cannot do: refused by name, not ignored. */
function unsupported(why: string, harmless: (v: unknown) => boolean) {
  return z.unknown().superRefine((v, ctx) => {
    if (v === undefined || v === null || harmless(v)) return;
    ctx.addIssue({ code: 'custom', message: `is not supported: ${why}` });
  }).optional();
}
const emptyList = (v: unknown) => Array.isArray(v) && v.length === 0;
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
  tools: unsupported('ChatGLM-6B has no tool calling', emptyList),
  tool_choice: unsupported('ChatGLM-6B has no tool calling', (v) => v === 'none'),
  functions: unsupported('ChatGLM-6B has no function calling', emptyList),
  function_call: unsupported('ChatGLM-6B has no function calling', (v) => v === 'none'),
  response_format: unsupported('ChatGLM-6B cannot be held to a JSON format; only {"type": "text"} is served', (v) => (v as { type?: unknown } | null)?.type === 'text'),
  stream_options: z
    .object({ include_usage: z.boolean().nullish() })
    .nullish()
    .transform((v) => ({ includeUsage: v?.include_usage ?? true })),
}).superRefine((body, ctx) => {
  // As OpenAI: alternatives are a detail of logprobs, so asking for them alone is a mistake.
  if (body.top_logprobs !== undefined && !body.logprobs) ctx.addIssue({ code: 'custom', path: ['top_logprobs'], message: 'needs logprobs: true' });
});
export type ChatCompletionBody = z.output<typeof chatCompletionSchema>;
