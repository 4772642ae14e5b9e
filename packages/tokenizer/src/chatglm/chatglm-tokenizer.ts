/**
 * ChatGLM-6B's tokenizer (spec §3): ChatGLM's whitespace rewriting around a SentencePiece
 * Unigram model, with `[gMASK] <sop>` appended to every encoded prompt.
 */
import { readFile } from 'node:fs/promises';
import { TokenizerError } from '../errors.ts';
import { parseModelProto } from '../sentencepiece/model-proto.ts';
import type { PieceType, SentencePieceModel } from '../sentencepiece/model-proto.ts';
import { SentencePieceRuntime } from '../sentencepiece/sentencepiece-runtime.ts';
import { Vocabulary } from '../sentencepiece/vocabulary.ts';
import { resolveSpecialTokens } from './special-tokens.ts';
import type { ChatGLMSpecialTokens } from './special-tokens.ts';
import { preProcessText } from './text-pre-process.ts';
import { cleanUpTokenizationSpaces, postProcessText } from './text-post-process.ts';

export interface DecodeOptions {
  /**
   * Apply transformers' `clean_up_tokenization_spaces` (remove the space before `. ? ! ,` and
   * English contractions). Default: true, as HF's ChatGLM tokenizer does; chatglm.cpp does not.
   */
  readonly cleanUpTokenizationSpaces?: boolean;
}

/** Where a model comes from: a file path (or file URL), or the `.model` file's bytes. */
export type TokenizerSource = string | URL | Uint8Array;

export class ChatGLMTokenizer {
  /** Ids of the special pieces, read from the model's vocabulary. */
  readonly specialTokens: ChatGLMSpecialTokens;
  readonly #vocab: Vocabulary;
  readonly #runtime: SentencePieceRuntime;
  readonly #suffix: readonly number[];

  private constructor(vocab: Vocabulary, runtime: SentencePieceRuntime, specialTokens: ChatGLMSpecialTokens) {
    this.#vocab = vocab;
    this.#runtime = runtime;
    this.specialTokens = specialTokens;
    this.#suffix = [specialTokens.gMask, specialTokens.sop];
  }

  /**
   * Loads a SentencePiece model (ChatGLM-6B's `ice_text.model`, or the package's test model).
   * Throws TokenizerError tokenizer_model_invalid for a file SentencePiece rejects and
   * tokenizer_piece_missing, naming the pieces, when a ChatGLM piece is absent.
   */
  static async load(source: TokenizerSource): Promise<ChatGLMTokenizer> {
    const bytes = source instanceof Uint8Array ? source : new Uint8Array(await readFile(source));
    let model: SentencePieceModel;
    try {
      model = parseModelProto(bytes);
    } catch (cause) {
      throw new TokenizerError('tokenizer_model_invalid', `not a SentencePiece model: ${String(cause)}`, { cause });
    }
    const vocab = new Vocabulary(model.pieces);
    // Check our pieces before paying for the WASM load.
    const specialTokens = resolveSpecialTokens(vocab);
    const runtime = await SentencePieceRuntime.load(bytes);
    return new ChatGLMTokenizer(vocab, runtime, specialTokens);
  }

  /** Number of pieces; valid token ids are 0 .. vocabSize-1 (130344 for ChatGLM-6B). */
  get vocabSize(): number {
    return this.#vocab.size;
  }

  /**
   * Prompt ids: the text's ids followed by `[gMASK]`, `<sop>` (spec §3.4).
   *
   * Text is never parsed for special tokens: a literal "<sop>" or "[gMASK]" in user text is
   * tokenized as ordinary characters (chatglm.cpp's behaviour; HF would split them out). The
   * whitespace pieces are the exception: a literal "<n>", "<|tab|>" or "<|blank_k|>" becomes that
   * piece and decodes as whitespace, which is inherent to ChatGLM's design.
   */
  encode(text: string): number[] {
    const ids = this.encodeWithoutSpecialTokens(text);
    ids.push(...this.#suffix);
    return ids;
  }

  /** The text's ids alone: pre-processing and SentencePiece, no `[gMASK] <sop>` suffix. */
  encodeWithoutSpecialTokens(text: string): number[] {
    return this.#runtime.encodeIds(preProcessText(text));
  }

  /**
   * Text for `ids` (spec §3.5): `<pad>` ids are dropped, control pieces (`[gMASK]`, `<sop>`,
   * `<eop>`, ...) give "", byte pieces are joined and UTF-8 decoded (SentencePiece gives one
   * U+FFFD per byte of an incomplete sequence, so a streaming caller should hold back text that
   * ends in U+FFFD), `<n>` / `<|tab|>` / `<|blank_k|>` become whitespace.
   * Throws tokenizer_id_out_of_range for an id outside the vocabulary.
   */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const kept: number[] = [];
    for (const id of ids) {
      this.#vocab.piece(id); // validates: the library would silently return "" for the whole call
      if (id !== this.specialTokens.pad) kept.push(id);
    }
    const text = postProcessText(this.#runtime.decodeIds(kept));
    return (options.cleanUpTokenizationSpaces ?? true) ? cleanUpTokenizationSpaces(text) : text;
  }

  /** The SentencePiece piece of `id` (e.g. "▁Hello", "<0xE4>", "<|blank_4|>"). */
  idToPiece(id: number): string {
    return this.#vocab.piece(id).piece;
  }

  /** The id of a piece, or undefined when the vocabulary has no such piece. */
  pieceToId(piece: string): number | undefined {
    return this.#vocab.idOf(piece);
  }

  /** The SentencePiece type of `id` (NORMAL, CONTROL, BYTE, ...). */
  pieceType(id: number): PieceType {
    return this.#vocab.piece(id).type;
  }
}
