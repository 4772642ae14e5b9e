// The authentication step of the generation endpoints: with API keys on, a request shows one as
// `Authorization: Bearer <key>` (what OpenAI's clients send) or it gets 401; the client it
// identifies is kept for the route (its request ids' namespace, its rate limit). With keys off
// every request passes as no client.
import type { RequestHandler, Response } from 'express';
import { GatewayError } from '../errors.ts';
import type { ApiClient, ApiKeys } from './api-keys.ts';

export function authenticate(keys: ApiKeys | undefined): RequestHandler {
  return (req, res, next) => {
    if (!keys) {
      next();
      return;
    }
    const header = req.get('authorization');
    const bearer = header === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    if (bearer === undefined) throw new GatewayError('unauthorized', header === undefined ? 'this gateway needs an API key: send Authorization: Bearer <key>' : 'the Authorization header must be "Bearer <key>"');
    const client = keys.identify(bearer);
    if (!client) throw new GatewayError('unauthorized', 'the API key is not accepted');
    res.locals.client = client;
    next();
  };
}

/** The client authenticate identified; undefined when API keys are off. */
export function clientOf(res: Response): ApiClient | undefined {
  return res.locals.client as ApiClient | undefined;
}
