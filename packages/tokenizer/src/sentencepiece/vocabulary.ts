/**
 * The id <-> piece tables of a SentencePiece model, read from its ModelProto.
 */
import { TokenizerError } from '../errors.ts';
import type { PieceType, SentencePiece } from './model-proto.ts';

export class Vocabulary {
  readonly #pieces: readonly SentencePiece[];
  readonly #ids = new Map<string, number>();

  constructor(pieces: readonly SentencePiece[]) {
    this.#pieces = pieces;
    // SentencePiece rejects duplicate pieces at load; keeping the first id is only a fallback.
    pieces.forEach(({ piece }, id) => {
      if (!this.#ids.has(piece)) this.#ids.set(piece, id);
    });
  }

  /** Number of pieces; valid ids are 0 .. size-1. */
  get size(): number {
    return this.#pieces.length;
  }

  /** The id of `piece`, or undefined when the model has no such piece. */
  idOf(piece: string): number | undefined {
    return this.#ids.get(piece);
  }

  /** The piece with id `id`; throws tokenizer_id_out_of_range for ids the model lacks. */
  piece(id: number): SentencePiece {
    const piece = Number.isInteger(id) ? this.#pieces[id] : undefined;
    if (piece === undefined) {
      throw new TokenizerError(
        'tokenizer_id_out_of_range',
        `token id ${id} is not in the vocabulary (valid ids are 0..${this.#pieces.length - 1})`,
      );
    }
    return piece;
  }

  /** Ids of every piece of type `type`, ascending. */
  idsOfType(type: PieceType): number[] {
    const ids: number[] = [];
    this.#pieces.forEach((p, id) => {
      if (p.type === type) ids.push(id);
    });
    return ids;
  }
}
