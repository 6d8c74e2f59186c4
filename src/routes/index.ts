/**
 * Every route module of the service, mounted at the root by `createApp`. Add one line per module.
 */
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { AppEnv } from '../http/context'
import { adminRoutes } from './adm/admin'
import { orgCreateRoutes } from './be/orgs-create'
import { versionsRoutes } from './srv/versions'

export const routeModules: OpenAPIHono<AppEnv>[] = [versionsRoutes, adminRoutes, orgCreateRoutes]
