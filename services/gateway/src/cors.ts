// CORS for an allow-list of origins (`--cors-origins`): a browser page from one of them may call the
// API (the preflight is answered, responses carry Access-Control-Allow-Origin); a preflight from any
// other origin is refused, and its requests get no CORS headers, so the browser keeps the answers
// from the page. The gateway's own web page is same-origin and needs none of this.
import type { RequestHandler } from 'express';
import { GatewayError } from './errors.ts';

/** How long a browser may cache a granted preflight, in seconds. */
const PREFLIGHT_MAX_AGE_S = 600;

export function cors(allowed: readonly string[]): RequestHandler {
  const origins = new Set(allowed);
  return (req, res, next) => {
    const origin = req.get('origin');
    if (origin === undefined) {
      next();
      return;
    }
    res.vary('Origin');
    const ok = origins.has(origin);
    if (ok) res.setHeader('Access-Control-Allow-Origin', origin);
    if (req.method !== 'OPTIONS') {
      next();
      return;
    }
    if (!ok) throw new GatewayError('origin_not_allowed', `${origin} is not on this gateway's CORS allow-list (--cors-origins)`);
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST');
    res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type, Last-Event-ID');
    res.setHeader('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE_S));
    res.status(204).end();
  };
}
