// JSON endpoints take JSON only. A browser lets any web page send a "simple" cross-site POST (a form,
// or text/plain) without asking the server first; refusing every body that is not declared as JSON
// keeps such pages from submitting requests from a visitor's browser (a JSON body needs a CORS
// preflight, which this gateway grants only to the origins on its allow-list).
import type { RequestHandler } from 'express';
import { GatewayError } from './errors.ts';

export const requireJson: RequestHandler = (req, _res, next) => {
  if (req.method !== 'POST' || req.is(['application/json', '+json'])) {
    next();
    return;
  }
  const type = req.get('content-type');
  throw new GatewayError('unsupported_media_type', `send the body as JSON with Content-Type: application/json${type ? ` (got ${type.split(';')[0]})` : ' (no Content-Type was sent)'}`);
};
