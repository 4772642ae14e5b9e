// A shared secret on the stage port: with one set, every Info and Step call must carry it as
// `authorization: Bearer <secret>` metadata, so that only the stages of the cluster (which are given
// the same secret) can send a stage work. The health service stays open: an orchestrator's gRPC
// probe carries no metadata. Presented secrets are compared by digest, in constant time.
import { sameDigest, secretDigest } from '@chatglm/common';
import { Metadata } from '@grpc/grpc-js';
import { ProtocolError } from './errors.ts';

const HEADER = 'authorization';

/** Metadata that carries `secret` (empty metadata without one). */
export function secretMetadata(secret: string | undefined): Metadata {
  const metadata = new Metadata();
  if (secret !== undefined) metadata.set(HEADER, `Bearer ${secret}`);
  return metadata;
}

export class StageSecret {
  private readonly expected: Buffer;

  constructor(secret: string) {
    if (secret.length < 16) throw new ProtocolError('invalid_argument', 'the stage secret must be at least 16 characters (e.g. openssl rand -hex 24)');
    this.expected = secretDigest(`Bearer ${secret}`);
  }

  /** Throws unauthorized unless `metadata` carries the secret. */
  check(metadata: Metadata): void {
    const [presented] = metadata.get(HEADER);
    if (typeof presented !== 'string') throw new ProtocolError('unauthorized', 'this stage needs the cluster\'s stage secret; start every stage with the same --stage-secret-file or CHATGLM_STAGE_SECRET');
    if (!sameDigest(secretDigest(presented), this.expected)) throw new ProtocolError('unauthorized', 'the stage secret is not accepted; start every stage with the same one');
  }
}
