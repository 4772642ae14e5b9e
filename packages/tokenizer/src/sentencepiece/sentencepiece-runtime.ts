/**
 * The one module that talks to the SentencePiece library (the official C++ code compiled to WASM,
 * npm `@sctg/sentencepiece-js`). Everything else in the package sees only this small interface.
 *
 * Each instance owns its own WASM module instance, so several models can be loaded in one process.
 */
import { SentencePieceProcessor } from '@sctg/sentencepiece-js';
import { TokenizerError } from '../errors.ts';

/** The part of the embind `SentencePieceProcessor` we call; the package ships it untyped. */
interface EmbindStatus {
  ToString(): string;
  delete(): void;
}
interface EmbindProcessor {
  status(): EmbindStatus;
}

export class SentencePieceRuntime {
  readonly #processor: SentencePieceProcessor;

  private constructor(processor: SentencePieceProcessor) {
    this.#processor = processor;
  }

  /** Loads a serialized ModelProto; throws tokenizer_model_invalid with the library's reason. */
  static async load(modelBytes: Uint8Array): Promise<SentencePieceRuntime> {
    const processor = new SentencePieceProcessor();
    // The library takes base64 only (it writes the bytes to its in-memory FS and loads them).
    await processor.loadFromB64StringModel(Buffer.from(modelBytes).toString('base64'));
    // Its loader ignores the load status, so ask the processor afterwards.
    const status = (processor.processor as EmbindProcessor).status();
    const message = status.ToString();
    status.delete();
    if (message !== 'OK') {
      throw new TokenizerError('tokenizer_model_invalid', `SentencePiece rejected the model: ${message}`);
    }
    return new SentencePieceRuntime(processor);
  }

  /** Normalises and segments `text` (no ChatGLM pre-processing, no special tokens). */
  encodeIds(text: string): number[] {
    return this.#processor.encodeIds(text);
  }

  /**
   * SentencePiece decoding. The caller must pass only ids inside the vocabulary: the library
   * returns "" for the whole call when any id is out of range.
   */
  decodeIds(ids: readonly number[]): string {
    return String(this.#processor.decodeIds(Int32Array.from(ids)));
  }
}
