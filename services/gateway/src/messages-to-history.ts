// OpenAI messages -> ChatGLM-6B's (history, query). v1 has no system prompt (docs/model.md §8.1), so
// system/developer messages are dropped, as chatglm.cpp does for this model. Consecutive messages
// of one role are joined with a newline (the template has one slot per role and round); an
// assistant message with no user message before it becomes a round with an empty query.
import type { ChatTurn } from '@chatglm/tokenizer';
import { invalidRequest } from './errors.ts';
import type { ChatMessage } from './validation/openai-schemas.ts';

export interface ChatInput {
  history: ChatTurn[];
  query: string;
}

export function messagesToHistory(messages: readonly ChatMessage[]): ChatInput {
  const turns = messages.filter((m) => m.role === 'user' || m.role === 'assistant');
  const last = turns.at(-1);
  if (!last || last.role !== 'user') {
    const lastRole = messages.at(-1)?.role ?? 'none';
    throw invalidRequest(`messages must end with a user message (after dropping system messages), got ${last ? `"${last.role}"` : `only "${lastRole}" messages`}`);
  }
  const history: ChatTurn[] = [];
  let query: string | undefined;
  let response: string | undefined;
  const closeRound = () => {
    if (response !== undefined) history.push([query ?? '', response]);
    query = undefined;
    response = undefined;
  };
  for (const m of turns) {
    if (m.role === 'user') {
      if (response !== undefined) closeRound();
      query = query === undefined ? m.content : `${query}\n${m.content}`;
    } else {
      response = response === undefined ? m.content : `${response}\n${m.content}`;
    }
  }
  // The loop ends on a user message, so no response is pending and `query` is the open round's.
  return { history, query: query ?? '' };
}
