/**
 * ChatGLM-6B's tokenizer (docs/model.md §3): ChatGLM's whitespace rewriting around a SentencePiece
 * Unigram model, with `[gMASK] <sop>` appended to every encoded prompt.
 */
import { readFile } from 'node:fs/promises';
import type { VocabInfo } from '@chatglm/generation';
import type { PromptMarkerIds } from '@chatglm/glm';
import { TokenizerError } from '../errors.ts';
import { PieceType, parseModelProto } from '../sentencepiece/model-proto.ts';
import type { SentencePieceModel } from '../sentencepiece/model-proto.ts';
import { SentencePieceRuntime } from '../sentencepiece/sentencepiece-runtime.ts';
import { Vocabulary } from '../sentencepiece/vocabulary.ts';
import { resolveSpecialTokens } from './special-tokens.ts';
import type { ChatGLMSpecialTokens } from './special-tokens.ts';
import { preProcessText } from './text-pre-process.ts';
import { cleanUpTokenizationSpaces, pieceText, postProcessText } from './text-post-process.ts';

export interface DecodeOptions {
  /**
   * Apply transformers' `clean_up_tokenization_spaces` (remove the space before `. ? ! ,` and
   * English contractions). Default: true, as HF's ChatGLM tokenizer does; chatglm.cpp does not.
   */
  readonly cleanUpTokenizationSpaces?: boolean;
}

/** Where a model comes from: a file path (or file URL), or the `.model` file's bytes. */
export type TokenizerSource = string | URL | Uint8Array;

const utf8 = new TextEncoder();

export class ChatGLMTokenizer {
  /** Ids of the special pieces, read from the model's vocabulary. */
  readonly specialTokens: ChatGLMSpecialTokens;
  /**
   * `[MASK]`, `[gMASK]` and `<sop>` in the shape the model's position code takes
   * (@chatglm/glm's promptLayout, @chatglm/runtime's ChainSequence).
   */
  readonly promptMarkers: PromptMarkerIds;
  /** The vocabulary size, `<eop>` and the lone `▁` in the shape @chatglm/generation takes. */
  readonly vocab: VocabInfo;
  readonly #vocabulary: Vocabulary;
  readonly #runtime: SentencePieceRuntime;
  readonly #suffix: readonly number[];
  /** What `<unk>` decodes to (the model's unk_surface, SentencePiece's default " ⁇ "). */
  readonly #unkSurface: string;
  /** Byte value by byte-piece id: the inverse of specialTokens.bytes. */
  readonly #byteValues: ReadonlyMap<number, number>;

  private constructor(
    vocabulary: Vocabulary,
    runtime: SentencePieceRuntime,
    specialTokens: ChatGLMSpecialTokens,
    unkSurface: string,
  ) {
    this.#vocabulary = vocabulary;
    this.#runtime = runtime;
    this.specialTokens = specialTokens;
    this.#suffix = [specialTokens.gMask, specialTokens.sop];
    this.#unkSurface = unkSurface;
    this.#byteValues = new Map(specialTokens.bytes.map((id, byte) => [id, byte]));
    // Frozen: callers hold on to these for a whole generation and must not be able to re-map ids.
    this.promptMarkers = Object.freeze({
      maskTokenId: specialTokens.mask,
      gmaskTokenId: specialTokens.gMask,
      bosTokenId: specialTokens.sop,
    });
    this.vocab = Object.freeze({
      vocabSize: vocabulary.size,
      eopId: specialTokens.eop,
      forcedTokenId: specialTokens.dummyPrefix,
    });
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
    const vocabulary = new Vocabulary(model.pieces);
    // Check our pieces before paying for the WASM load.
    const specialTokens = resolveSpecialTokens(vocabulary);
    const runtime = await SentencePieceRuntime.load(bytes);
    return new ChatGLMTokenizer(vocabulary, runtime, specialTokens, model.trainerSpec.unkSurface);
  }

  /** Number of pieces; valid token ids are 0 .. vocabSize-1 (130344 for ChatGLM-6B). */
  get vocabSize(): number {
    return this.#vocabulary.size;
  }

  /**
   * Prompt ids: the text's ids followed by `[gMASK]`, `<sop>` (docs/model.md §3.4).
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
   * Text for `ids` (docs/model.md §3.5): `<pad>` ids are dropped, control pieces (`[gMASK]`, `<sop>`,
   * `<eop>`, ...) give "", byte pieces are joined and UTF-8 decoded (SentencePiece gives one
   * U+FFFD per byte of an incomplete sequence, so a streaming caller should hold back text that
   * ends in U+FFFD), `<n>` / `<|tab|>` / `<|blank_k|>` become whitespace, `<unk>` gives " ⁇ ".
   * Throws tokenizer_id_out_of_range for an id outside the vocabulary.
   */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const kept: number[] = [];
    for (const id of ids) {
      this.#vocabulary.piece(id); // validates: the library would silently return "" for the whole call
      if (id !== this.specialTokens.pad) kept.push(id);
    }
    const text = postProcessText(this.#runtime.decodeIds(kept));
    return (options.cleanUpTokenizationSpaces ?? true) ? cleanUpTokenizationSpaces(text) : text;
  }

  /**
   * The UTF-8 bytes token `id` contributes to decoded text, shown on its own: what per-token
   * log-probabilities report (OpenAI's `logprobs.content[i].bytes`), so that a client can join the
   * bytes of a reply's tokens even where one character spans several byte pieces.
   *
   * - NORMAL / USER_DEFINED pieces: the piece with '▁' as a space and `<n>`, `<|tab|>`,
   *   `<|blank_k|>` as whitespace (pieceText);
   * - byte pieces `<0xAB>`: the single byte 0xAB (decode would show U+FFFD for a lone byte of a
   *   multi-byte character; the raw byte is what lets the client rebuild it);
   * - `<unk>`: the model's unk surface " ⁇ ", as decode gives;
   * - control pieces (`[gMASK]`, `<sop>`, `<eop>`, ...) and `<pad>`: no bytes.
   *
   * So `tokenBytes(id)` is the UTF-8 of `decode([id], { cleanUpTokenizationSpaces: false })` for
   * every id but byte pieces >= 0x80, with one difference: decode drops the space of a '▁' at the
   * very start of a text ("▁Hello" decodes alone to "Hello"), tokenBytes keeps it (" Hello"),
   * since mid-reply that space is part of the text.
   * Throws tokenizer_id_out_of_range for an id outside the vocabulary, as decode does.
   */
  tokenBytes(id: number): Uint8Array {
    const { piece, type } = this.#vocabulary.piece(id);
    // decode drops <pad> whatever its type.
    if (id === this.specialTokens.pad) return new Uint8Array(0);
    switch (type) {
      case PieceType.CONTROL:
        return new Uint8Array(0);
      case PieceType.UNKNOWN:
        return utf8.encode(this.#unkSurface);
      case PieceType.BYTE: {
        // SentencePiece requires BYTE pieces to be named <0x00>..<0xFF>, all resolved at load.
        const byte = this.#byteValues.get(id);
        if (byte === undefined) throw new Error(`byte piece ${piece} (id ${id}) is not in the byte table`);
        return Uint8Array.of(byte);
      }
      default:
        // NORMAL, USER_DEFINED, and UNUSED, which SentencePiece decodes like NORMAL.
        return utf8.encode(pieceText(piece));
    }
  }

  /** The SentencePiece piece of `id` (e.g. "▁Hello", "<0xE4>", "<|blank_4|>"). */
  idToPiece(id: number): string {
    return this.#vocabulary.piece(id).piece;
  }

  /** The id of a piece, or undefined when the vocabulary has no such piece. */
  pieceToId(piece: string): number | undefined {
    return this.#vocabulary.idOf(piece);
  }

  /** The SentencePiece type of `id` (NORMAL, CONTROL, BYTE, ...). */
  pieceType(id: number): PieceType {
    return this.#vocabulary.piece(id).type;
  }
}
