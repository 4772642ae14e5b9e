// The web chat page (README, "The web chat page"): `GET /` answers browsers (Accept: text/html) with
// the page, `POST /` stays api.py's endpoint, and /web/ serves the page's own script and styles. The
// files are read once, at start-up. A strict Content-Security-Policy lets the page load only its own
// files and talk only to this gateway: even a rendering bug could not run a script from a reply.
import fs from 'node:fs';
import path from 'node:path';
import { Router, type Response } from 'express';
import { GatewayError } from '../errors.ts';

const WEB_DIR = path.join(import.meta.dirname, '..', 'web');

/** The page and what it loads: name -> content type. Nothing else under /web/ is served. */
const FILES: Readonly<Record<string, string>> = {
  'chat.html': 'text/html; charset=utf-8',
  'chat.js': 'text/javascript; charset=utf-8',
  'markdown.js': 'text/javascript; charset=utf-8',
  'chat.css': 'text/css; charset=utf-8',
  'icon.svg': 'image/svg+xml',
};

const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function webPageRoutes(): Router {
  const files = new Map(Object.entries(FILES).map(([name, type]) => [name, { type, body: fs.readFileSync(path.join(WEB_DIR, name)) }]));
  const sendFile = (res: Response, name: string) => {
    const file = files.get(name);
    if (!file) throw new GatewayError('not_found', `no file /web/${name}; the page loads /web/${[...files.keys()].filter((f) => f !== 'chat.html').join(', /web/')}`);
    res.setHeader('Content-Type', file.type);
    res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-cache');
    res.send(file.body);
  };
  const router = Router();
  router.get('/', (req, res) => {
    // Asked for by name: a client accepting anything (curl's */*) is more likely an API client.
    if (!/\btext\/html\b/.test(req.get('accept') ?? '')) throw new GatewayError('not_found', 'GET / serves the web chat page to browsers (Accept: text/html); POST / is the api.py endpoint');
    sendFile(res, 'chat.html');
  });
  router.get('/web/:file', (req, res) => sendFile(res, req.params.file));
  // Browsers ask for it whatever the page says.
  router.get('/favicon.ico', (_req, res) => sendFile(res, 'icon.svg'));
  return router;
}
