/**
 * Reads and writes the parts of a SentencePiece `ModelProto` (the `.model` file) that we need.
 *
 * The WASM SentencePiece build exposes no vocabulary accessors, so the pieces, their scores and
 * types are read here. The schema below is ours and holds only the fields we use; protobuf skips
 * every other field when decoding, so a full model file (e.g. ChatGLM's `ice_text.model`) parses
 * fine. Field numbers and proto2 defaults are those of SentencePiece's `sentencepiece_model.proto`
 * (checked against the Python package's descriptor and against the WASM library's behaviour, see
 * test/model-proto.test.ts).
 */
import protobuf from 'protobufjs';

const SCHEMA = `
syntax = "proto2";
package chatglm.sentencepiece;

message TrainerSpec {
  enum ModelType { UNIGRAM = 1; BPE = 2; WORD = 3; CHAR = 4; }
  optional ModelType model_type = 3 [default = UNIGRAM];
  optional int32 vocab_size = 4 [default = 8000];
  optional bool treat_whitespace_as_suffix = 24 [default = false];
  optional bool byte_fallback = 35 [default = false];
  optional int32 unk_id = 40 [default = 0];
  optional int32 bos_id = 41 [default = 1];
  optional int32 eos_id = 42 [default = 2];
  optional int32 pad_id = 43 [default = -1];
  optional string unk_surface = 44 [default = " \u2047 "];
}

message NormalizerSpec {
  optional string name = 1;
  optional bytes precompiled_charsmap = 2;
  optional bool add_dummy_prefix = 3 [default = true];
  optional bool remove_extra_whitespaces = 4 [default = true];
  optional bool escape_whitespaces = 5 [default = true];
}

message ModelProto {
  message SentencePiece {
    enum Type { NORMAL = 1; UNKNOWN = 2; CONTROL = 3; USER_DEFINED = 4; UNUSED = 5; BYTE = 6; }
    optional string piece = 1;
    optional float score = 2;
    optional Type type = 3 [default = NORMAL];
  }
  repeated SentencePiece pieces = 1;
  optional TrainerSpec trainer_spec = 2;
  optional NormalizerSpec normalizer_spec = 3;
}
`;

/** SentencePiece piece types (`ModelProto.SentencePiece.Type`). */
export const PieceType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;
export type PieceType = (typeof PieceType)[keyof typeof PieceType];

/** `TrainerSpec.ModelType`. */
export const ModelType = { UNIGRAM: 1, BPE: 2, WORD: 3, CHAR: 4 } as const;
export type ModelType = (typeof ModelType)[keyof typeof ModelType];

export interface SentencePiece {
  readonly piece: string;
  readonly score: number;
  readonly type: PieceType;
}

export interface TrainerSpec {
  readonly modelType: ModelType;
  readonly vocabSize: number;
  readonly treatWhitespaceAsSuffix: boolean;
  readonly byteFallback: boolean;
  readonly unkId: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** What the `<unk>` piece decodes to (SentencePiece default " ⁇ "). */
  readonly unkSurface: string;
}

export interface NormalizerSpec {
  readonly name: string;
  /** Empty means "no character mapping" (identity normaliser). */
  readonly precompiledCharsmap: Uint8Array;
  readonly addDummyPrefix: boolean;
  readonly removeExtraWhitespaces: boolean;
  readonly escapeWhitespaces: boolean;
}

export interface SentencePieceModel {
  readonly pieces: readonly SentencePiece[];
  readonly trainerSpec: TrainerSpec;
  readonly normalizerSpec: NormalizerSpec;
}

const root = protobuf.parse(SCHEMA).root;
const ModelProtoType = root.lookupType('chatglm.sentencepiece.ModelProto');

const PIECE_TYPES = new Set<number>(Object.values(PieceType));
const MODEL_TYPES = new Set<number>(Object.values(ModelType));

/**
 * Decodes a `.model` file. Throws (protobuf's own error) when the bytes are not a protobuf
 * message, and an Error naming the field when a value is out of range.
 */
export function parseModelProto(bytes: Uint8Array): SentencePieceModel {
  const message = ModelProtoType.decode(bytes);
  // defaults: true fills absent proto2 fields with their declared defaults, as C++ does.
  const raw = ModelProtoType.toObject(message, { defaults: true, arrays: true, bytes: Uint8Array });
  const trainer = (raw['trainerSpec'] ?? {}) as Record<string, unknown>;
  const normalizer = (raw['normalizerSpec'] ?? {}) as Record<string, unknown>;
  const rawPieces = raw['pieces'] as Array<Record<string, unknown>>;

  const pieces = rawPieces.map((p, id): SentencePiece => {
    const type = Number(p['type'] ?? PieceType.NORMAL);
    if (!PIECE_TYPES.has(type)) throw new Error(`piece ${id} has unknown type ${type}`);
    return { piece: String(p['piece'] ?? ''), score: Number(p['score'] ?? 0), type: type as PieceType };
  });
  const modelType = Number(trainer['modelType'] ?? ModelType.UNIGRAM);
  if (!MODEL_TYPES.has(modelType)) throw new Error(`trainer_spec.model_type ${modelType} is unknown`);

  return {
    pieces,
    trainerSpec: {
      modelType: modelType as ModelType,
      vocabSize: Number(trainer['vocabSize'] ?? 8000),
      treatWhitespaceAsSuffix: Boolean(trainer['treatWhitespaceAsSuffix'] ?? false),
      byteFallback: Boolean(trainer['byteFallback'] ?? false),
      unkId: Number(trainer['unkId'] ?? 0),
      bosId: Number(trainer['bosId'] ?? 1),
      eosId: Number(trainer['eosId'] ?? 2),
      padId: Number(trainer['padId'] ?? -1),
      unkSurface: String(trainer['unkSurface'] ?? ' \u2047 '),
    },
    normalizerSpec: {
      name: String(normalizer['name'] ?? ''),
      precompiledCharsmap: toBytes(normalizer['precompiledCharsmap']),
      addDummyPrefix: Boolean(normalizer['addDummyPrefix'] ?? true),
      removeExtraWhitespaces: Boolean(normalizer['removeExtraWhitespaces'] ?? true),
      escapeWhitespaces: Boolean(normalizer['escapeWhitespaces'] ?? true),
    },
  };
}

/**
 * Encodes a model. Every field of our schema is written explicitly (defaults too), in field-number
 * order, so equal inputs give byte-identical output.
 */
export function serializeModelProto(model: SentencePieceModel): Uint8Array {
  const t = model.trainerSpec;
  const n = model.normalizerSpec;
  const message = ModelProtoType.fromObject({
    pieces: model.pieces.map((p) => ({ piece: p.piece, score: p.score, type: p.type })),
    trainerSpec: {
      modelType: t.modelType,
      vocabSize: t.vocabSize,
      treatWhitespaceAsSuffix: t.treatWhitespaceAsSuffix,
      byteFallback: t.byteFallback,
      unkId: t.unkId,
      bosId: t.bosId,
      eosId: t.eosId,
      padId: t.padId,
      unkSurface: t.unkSurface,
    },
    normalizerSpec: {
      name: n.name,
      precompiledCharsmap: n.precompiledCharsmap,
      addDummyPrefix: n.addDummyPrefix,
      removeExtraWhitespaces: n.removeExtraWhitespaces,
      escapeWhitespaces: n.escapeWhitespaces,
    },
  });
  const bytes = ModelProtoType.encode(message).finish();
  // Copy out of protobuf's pooled buffer so callers own plain, exactly-sized bytes.
  return new Uint8Array(bytes);
}

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  return new Uint8Array(0);
}
