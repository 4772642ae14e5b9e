// API keys (README, "Security"): `--api-keys FILE` or CHATGLM_API_KEYS turn on bearer authentication.
// A key is never kept, compared or logged as itself: the gateway holds SHA-256 digests, compares a
// presented key's digest with every one in constant time, and names a key by a short tag derived
// from its digest (its requests' namespace, and what logs may show).
import fs from 'node:fs';
import { ChatGlmError, sameDigest, secretDigest } from '@chatglm/common';

/** Shorter keys are refused: a key must not be guessable. */
export const MIN_API_KEY_LENGTH = 16;

/** Who sent a request, as far as the gateway knows: the key it showed. */
export interface ApiClient {
  /** A short name of the key, not a secret: `k` + 12 hex digits of its digest. */
  readonly tag: string;
}

export class ApiKeys {
  private constructor(private readonly entries: readonly { digest: Buffer; client: ApiClient }[]) {}

  /**
   * Keys separated by newlines or commas; blank lines and `#` comments are skipped. `source` names
   * where they came from in error messages (never the keys themselves).
   */
  static parse(text: string, source: string): ApiKeys {
    const keys = text
      .split(/[\n,]/)
      .map((line) => line.replace(/#.*/, '').trim())
      .filter((line) => line !== '');
    if (keys.length === 0) throw new ChatGlmError('invalid_argument', `${source} holds no API key`);
    const entries = keys.map((key, i) => {
      if (key.length < MIN_API_KEY_LENGTH || /\s/.test(key)) throw new ChatGlmError('invalid_argument', `API key ${i + 1} of ${source} is shorter than ${MIN_API_KEY_LENGTH} characters or holds a space; use long random keys (e.g. openssl rand -hex 24)`);
      const d = secretDigest(key);
      return { digest: d, client: { tag: `k${d.toString('hex').slice(0, 12)}` } };
    });
    return new ApiKeys(entries);
  }

  /** From --api-keys FILE, else the CHATGLM_API_KEYS variable; undefined when neither is set (no authentication). */
  static load(file: string | undefined, env: NodeJS.ProcessEnv): ApiKeys | undefined {
    if (file !== undefined) {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err) {
        throw new ChatGlmError('invalid_argument', `--api-keys ${file}: ${(err as Error).message}`);
      }
      return ApiKeys.parse(text, `--api-keys ${file}`);
    }
    const fromEnv = env.CHATGLM_API_KEYS;
    return fromEnv === undefined || fromEnv.trim() === '' ? undefined : ApiKeys.parse(fromEnv, 'CHATGLM_API_KEYS');
  }

  get size(): number {
    return this.entries.length;
  }

  /** The client a presented key belongs to; every digest is compared, in constant time. */
  identify(key: string): ApiClient | undefined {
    const presented = secretDigest(key);
    let found: ApiClient | undefined;
    for (const e of this.entries) if (sameDigest(e.digest, presented)) found = e.client;
    return found;
  }
}
