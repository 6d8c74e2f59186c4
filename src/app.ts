/**
 * The HTTP application: shared middleware (request id, access log, body limits, 405), the error
 * envelope, every route family, and the OpenAPI document generated from the routes' zod schemas.
 */

import { methodNotAllowed } from 'hono/method-not-allowed'
import { requestId } from 'hono/request-id'
import { accessLog } from './http/middleware/access-log'
import { onError, onNotFound } from './http/middleware/errors'
import { jsonBodyLimit } from './http/middleware/json-limits'
import { createRouter } from './http/router'
import { routeModules } from './routes'
import { docsPage } from './routes/docs-page'
import { versions } from './version'

export function createApp() {
  const app = createRouter()

  app.use('*', requestId({ headerName: 'x-request-id', limitLength: 200 }))
  app.use('*', accessLog())
  app.use(
    '*',
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) =>
        c.json(
          {
            status: 'error',
            code: 'methodNotAllowed',
            message: `${c.req.method} is not allowed on ${c.req.path}; use ${methods.join(', ')}`,
            details: [],
          },
          405,
          { Allow: methods.join(', ') },
        ),
    }),
  )
  app.use('/adm/*', jsonBodyLimit())
  app.use('/be/*', jsonBodyLimit())

  for (const routes of routeModules) app.route('/', routes)

  app.doc31('/openapi.json', (c) => ({
    openapi: '3.1.0',
    info: {
      title: 'rockit-edge API',
      version: versions.service,
      description: 'Progressive-download backend following the public ROCKIT Edge API.',
    },
    servers: [{ url: new URL(c.req.url).origin }],
  }))
  app.get('/docs', (c) => c.html(docsPage()))

  app.onError(onError)
  app.notFound(onNotFound)
  return app
}
