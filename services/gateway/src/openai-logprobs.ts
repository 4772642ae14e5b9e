// OpenAI's `logprobs` object of a choice (or a stream chunk): per generated token its text, its
// log-probability and, when asked for, the most likely alternatives. The pipeline reports token
// ids; the text of each comes from the tokenizer here. `<eop>` ends the reply but is not part of
// its text, so it is left out, as OpenAI leaves out its end-of-text token.
import type { TokenLogprobs } from '@chatglm/queue';
import type { PromptTokenizer } from './gateway-context.ts';

interface OpenAiTokenLogprob {
  token: string;
  logprob: number;
  /** The UTF-8 bytes of the token: a token that holds part of a character shows as U+FFFD in `token`. */
  bytes: number[];
}

export interface OpenAiLogprobs {
  content: (OpenAiTokenLogprob & { top_logprobs: OpenAiTokenLogprob[] })[];
  refusal: null;
}

const utf8 = new TextDecoder('utf-8');

export function openAiLogprobs(tokens: readonly TokenLogprobs[], tokenizer: PromptTokenizer): OpenAiLogprobs {
  const describe = (tokenId: number, logprob: number): OpenAiTokenLogprob => {
    const bytes = tokenizer.tokenBytes(tokenId);
    return { token: utf8.decode(bytes), logprob, bytes: Array.from(bytes) };
  };
  return {
    content: tokens
      .filter((t) => t.tokenId !== tokenizer.vocab.eopId)
      .map((t) => ({ ...describe(t.tokenId, t.logprob), top_logprobs: t.top.map((a) => describe(a.tokenId, a.logprob)) })),
    refusal: null,
  };
}
