// Secrets (API keys, the stage secret, Redis passwords) are never kept, compared or shown as
// themselves: they are held as SHA-256 digests, compared in constant time (digests of equal length,
// so the comparison's time says nothing about the secret), and masked in anything printed.
import { createHash, timingSafeEqual } from 'node:crypto';

export function secretDigest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Whether two digests of secretDigest are equal, in constant time. */
export function sameDigest(a: Buffer, b: Buffer): boolean {
  return timingSafeEqual(a, b);
}

/** A URL with its credentials (`//user:password@`) replaced by `//***@`, for logs and banners. */
export function maskUrlCredentials(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
