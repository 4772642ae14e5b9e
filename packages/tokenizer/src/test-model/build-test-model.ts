/**
 * The project's own small ChatGLM-shaped tokenizer model, for tests that cannot ship THUDM's
 * 2.7 MB `ice_text.model`. It is a real SentencePiece ModelProto (Unigram, byte fallback, a
 * precompiled charsmap folding fullwidth ASCII), laid out like the real model but with small ids:
 *
 *   0 <unk>  1 <s>  2 </s>  3 <pad>  4 <n>  5 ▁
 *   6 ...            NORMAL pieces (test-vocabulary.ts, tier by tier)
 *   then [MASK] [gMASK] [sMASK] <unused_0> <sop> <eop> <ENC> <dBLOCK>   (CONTROL)
 *   then <|tab|>, <|blank_2|> .. <|blank_80|>                            (USER_DEFINED)
 *   then <0x00> .. <0xFF>                                                (BYTE)
 *
 * The functions here are the source of truth; test/fixtures/tokenizer/test-tokenizer.model is a
 * copy kept for callers that need a path (see write-test-model.ts).
 */
import { ModelType, PieceType, serializeModelProto } from '../sentencepiece/model-proto.ts';
import type { SentencePiece, SentencePieceModel } from '../sentencepiece/model-proto.ts';
import { buildPrecompiledCharsmap } from '../sentencepiece/precompiled-charsmap.ts';
import {
  MAX_BLANK_LENGTH,
  MIN_BLANK_LENGTH,
  NEWLINE_PIECE,
  TAB_PIECE,
  blankPiece,
  bytePiece,
} from '../chatglm/special-tokens.ts';
import { fullwidthFoldingRules } from './fullwidth-folding.ts';
import { NORMAL_TIERS } from './test-vocabulary.ts';

/** ChatGLM's control pieces in the order of HF's SPTokenizer list (docs/model.md §3.2). */
const CHATGLM_CONTROL_PIECES = ['[MASK]', '[gMASK]', '[sMASK]', '<unused_0>', '<sop>', '<eop>', '<ENC>', '<dBLOCK>'];

/** The test model as a parsed structure (what `parseModelProto(buildTestTokenizerModel())` gives). */
export function buildTestTokenizerModelProto(): SentencePieceModel {
  const pieces: SentencePiece[] = [];
  const add = (piece: string, type: PieceType, score = 0): void => {
    pieces.push({ piece, score, type });
  };

  add('<unk>', PieceType.UNKNOWN);
  add('<s>', PieceType.CONTROL);
  add('</s>', PieceType.CONTROL);
  add('<pad>', PieceType.CONTROL);
  add(NEWLINE_PIECE, PieceType.USER_DEFINED);
  for (const tier of NORMAL_TIERS) {
    for (const piece of tier.pieces) add(piece, PieceType.NORMAL, tier.score);
  }
  for (const piece of CHATGLM_CONTROL_PIECES) add(piece, PieceType.CONTROL);
  add(TAB_PIECE, PieceType.USER_DEFINED);
  for (let k = MIN_BLANK_LENGTH; k <= MAX_BLANK_LENGTH; k++) add(blankPiece(k), PieceType.USER_DEFINED);
  for (let b = 0; b < 256; b++) add(bytePiece(b), PieceType.BYTE);

  const seen = new Set<string>();
  for (const { piece } of pieces) {
    // SentencePiece refuses duplicate pieces; fail here with the culprit's name instead.
    if (seen.has(piece)) throw new Error(`test tokenizer model: piece ${JSON.stringify(piece)} listed twice`);
    seen.add(piece);
  }

  return {
    pieces,
    trainerSpec: {
      modelType: ModelType.UNIGRAM,
      vocabSize: pieces.length,
      treatWhitespaceAsSuffix: false,
      byteFallback: true,
      unkId: 0,
      bosId: 1,
      eosId: 2,
      padId: 3,
      unkSurface: ' \u2047 ',
    },
    normalizerSpec: {
      name: 'chatglm_test_fullwidth_fold',
      precompiledCharsmap: buildPrecompiledCharsmap(fullwidthFoldingRules()),
      addDummyPrefix: true,
      // Keep every space so decode(encode(x)) == x holds for any text the vocabulary covers.
      removeExtraWhitespaces: false,
      escapeWhitespaces: true,
    },
  };
}

/**
 * The serialized test model (a `.model` file's bytes), deterministic: the same bytes on every
 * call and every machine. Load it with `ChatGLMTokenizer.load(buildTestTokenizerModel())`.
 */
export function buildTestTokenizerModel(): Uint8Array {
  return serializeModelProto(buildTestTokenizerModelProto());
}
