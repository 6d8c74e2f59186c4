/**
 * `/be/v1/subscriptions`: create (answers the signing secret once), list, detail with the latest
 * deliveries and dead letters, delete. Needs the `subscriptions` permission.
 */
import { createRoute, z } from '@hono/zod-openapi'
import { deliveryHistory } from '../../domain/subscriptions/delivery-history'
import {
  createSubscription,
  deleteSubscription,
  findSubscription,
  listSubscriptions,
  subscriptionView,
} from '../../domain/subscriptions/subscriptions'
import { page, success } from '../../http/envelope'
import { listOptions, listQuery, pageInMemory } from '../../http/list'
import { authorize, userAuth } from '../../http/middleware/auth'
import { createRouter } from '../../http/router'
import {
  errorResponses,
  jsonBody,
  jsonResponse,
  nameSchema,
  pageSchema,
  successSchema,
} from '../../http/schemas'
import {
  createSubscriptionBody,
  SUBSCRIPTION_LIST,
  subscriptionDetailSchema,
  subscriptionSchema,
} from './subscription-schemas'

const tags = ['Subscriptions']
const nameParam = z.object({ name: nameSchema.openapi({ param: { name: 'name', in: 'path' } }) })

const create = createRoute({
  method: 'post',
  path: '/be/v1/subscriptions',
  tags,
  summary: 'Subscribe a webhook or Slack target to task events',
  middleware: [userAuth()] as const,
  request: { body: jsonBody(createSubscriptionBody) },
  responses: {
    201: jsonResponse(
      successSchema({
        subscription: subscriptionSchema,
        secret: z.string().openapi({ description: 'The signing secret, shown once' }),
      }),
      'Subscription created',
    ),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
    409: errorResponses[409],
  },
})

const list = createRoute({
  method: 'get',
  path: '/be/v1/subscriptions',
  tags,
  summary: "The org's subscriptions",
  middleware: [userAuth()] as const,
  request: {
    query: listQuery.extend({
      name: z.string().max(50).optional().openapi({ description: 'Part of the name' }),
    }),
  },
  responses: {
    200: jsonResponse(pageSchema(subscriptionSchema), 'A page of subscriptions'),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
  },
})

const detail = createRoute({
  method: 'get',
  path: '/be/v1/subscriptions/{name}',
  tags,
  summary: 'A subscription with its latest deliveries and dead letters',
  middleware: [userAuth()] as const,
  request: { params: nameParam },
  responses: {
    200: jsonResponse(successSchema({ subscription: subscriptionDetailSchema }), 'Subscription'),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
    404: errorResponses[404],
  },
})

const remove = createRoute({
  method: 'delete',
  path: '/be/v1/subscriptions/{name}',
  tags,
  summary: 'Delete a subscription; events not yet delivered are dropped',
  middleware: [userAuth()] as const,
  request: { params: nameParam },
  responses: {
    200: jsonResponse(successSchema({}), 'Subscription deleted'),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
    404: errorResponses[404],
  },
})

export const subscriptionRoutes = createRouter()
  .openapi(create, async (c) => {
    const principal = authorize(c, 'subscriptions', 'create')
    const body = c.req.valid('json')
    const { subscription, secret } = await createSubscription(c.env, principal.orgId, body)
    c.var.log.info('subscription created', { subscription: subscription.name })
    return c.json(
      success('subscription created', { subscription: subscriptionView(subscription), secret }),
      201,
    )
  })
  .openapi(list, async (c) => {
    const principal = authorize(c, 'subscriptions', 'read')
    const query = c.req.valid('query')
    const options = listOptions(query, SUBSCRIPTION_LIST)
    const needle = query.name?.toLowerCase()
    const rows = await listSubscriptions(c.env, principal.orgId)
    const views = rows
      .filter((row) => !needle || row.name.toLowerCase().includes(needle))
      .map(subscriptionView)
    if (!options.order.length) options.order.push({ field: 'name', descending: false })
    const { total, items } = pageInMemory(views, options)
    return c.json(page(items, total, options.offset, options.limit), 200)
  })
  .openapi(detail, async (c) => {
    const principal = authorize(c, 'subscriptions', 'read')
    const row = await findSubscription(c.env, principal.orgId, c.req.valid('param').name)
    const history = await deliveryHistory(c.env, row.id)
    return c.json(
      success('subscription', { subscription: { ...subscriptionView(row), ...history } }),
      200,
    )
  })
  .openapi(remove, async (c) => {
    const principal = authorize(c, 'subscriptions', 'delete')
    const { name } = c.req.valid('param')
    await deleteSubscription(c.env, principal.orgId, name)
    c.var.log.info('subscription deleted', { subscription: name })
    return c.json(success('subscription deleted'), 200)
  })
