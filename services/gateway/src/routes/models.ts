// `GET /v1/models` and `GET /v1/models/:id`: the one model this cluster serves.
import { Router } from 'express';
import { GatewayError } from '../errors.ts';
import type { GatewayContext } from '../gateway-context.ts';

export function modelRoutes(ctx: GatewayContext): Router {
  const model = () => ({ id: ctx.options.modelName, object: 'model', created: ctx.startedAt, owned_by: 'chatglm-cluster' });
  const router = Router();
  router.get('/v1/models', ctx.authenticate, (_req, res) => {
    res.json({ object: 'list', data: [model()] });
  });
  router.get('/v1/models/:id', ctx.authenticate, (req, res) => {
    if (req.params.id !== ctx.options.modelName) throw new GatewayError('model_not_found', `model "${req.params.id}" is not served here; this gateway serves "${ctx.options.modelName}"`);
    res.json(model());
  });
  return router;
}
