/**
 * The HTTP application: shared middleware (request id, access log, body limits, 405), the error
 * envelope, every route family, and the OpenAPI document generated from the routes' zod schemas.
 */

import { methodNotAllowed } from 'hono/method-not-allowed'
import { accessLog } from './http/middleware/access-log'
import { onError, onNotFound } from './http/middleware/errors'
import { jsonCharset } from './http/middleware/json-charset'
import { jsonBodyLimit } from './http/middleware/json-limits'
import { requestId } from './http/middleware/request-id'
import { openApiDocument } from './http/openapi'
import { createRouter } from './http/router'
import { routeModules } from './routes'
import { docsPage } from './routes/docs-page'
import { versions } from './version'

export function createApp() {
  const app = createRouter()

  app.use('*', requestId())
  app.use('*', jsonCharset())
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

  app.get('/openapi.json', (c) =>
    c.json(openApiDocument(app, new URL(c.req.url).origin, versions.service)),
  )
  app.get('/docs', (c) => c.html(docsPage()))

  app.onError(onError)
  app.notFound(onNotFound)
  return app
}
