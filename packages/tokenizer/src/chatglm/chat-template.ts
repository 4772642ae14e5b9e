/**
 * ChatGLM-6B v1's chat prompt (docs/model.md §8.1). There is no system prompt in v1.
 */

/** One finished turn: the user's query and the model's (post-processed) response. */
export type ChatTurn = readonly [query: string, response: string];

/**
 * With no history the prompt is the raw query. Otherwise each turn i (0-based) is written as
 * "[Round i]\n问：<query>\n答：<response>\n", followed by the open round for `query`. The colons
 * are fullwidth (U+FF1A), as the model was trained with.
 */
export function buildChatPrompt(history: readonly ChatTurn[], query: string): string {
  if (history.length === 0) return query;
  let prompt = '';
  history.forEach(([q, r], round) => {
    prompt += `[Round ${round}]\n问：${q}\n答：${r}\n`;
  });
  return `${prompt}[Round ${history.length}]\n问：${query}\n答：`;
}
