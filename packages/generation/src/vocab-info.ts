/**
 * The tokenizer facts generation needs. Always read them from the tokenizer in use (the tiny
 * default model has other ids than ChatGLM-6B's ice_text.model); never hard-code them.
 */
export interface VocabInfo {
  /** Number of real pieces (ChatGLM-6B: 130,344); logits at ids >= this are masked. */
  readonly vocabSize: number;
  /** `<eop>`, the end-of-reply token (ChatGLM-6B: 130005). */
  readonly eopId: number;
  /** The token the invalid-score fix forces: the lone `▁` piece (ChatGLM-6B: 5). */
  readonly forcedTokenId: number;
}
