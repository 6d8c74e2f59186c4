/**
 * Every route module of the service, mounted at the root by `createApp`. Add one line per module.
 */
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { AppEnv } from '../http/context'
import { adminRoutes } from './adm/admin'
import { adminOrgRoutes } from './adm/orgs'
import { apiKeyRoutes } from './be/apikeys'
import { appRoutes } from './be/apps'
import { authRoutes } from './be/auth'
import { buildRoutes } from './be/builds'
import { deploymentRoutes } from './be/deployments'
import { orgCreateRoutes } from './be/orgs-create'
import { orgDeleteRoutes } from './be/orgs-delete'
import { roleRoutes } from './be/roles'
import { subscriptionRoutes } from './be/subscriptions'
import { taskRoutes } from './be/tasks'
import { trainingRoutes } from './be/trainings'
import { triggerRoutes } from './be/trigger'
import { userRoutes } from './be/users'
import { clientAppRoutes } from './client/apps'
import { traceRoutes } from './client/traces'
import { depotRoutes } from './depot'
import { versionsRoutes } from './srv/versions'
import { uploadRoutes } from './upload'

export const routeModules: OpenAPIHono<AppEnv>[] = [
  versionsRoutes,
  adminRoutes,
  orgCreateRoutes,
  adminOrgRoutes,
  orgDeleteRoutes,
  authRoutes,
  apiKeyRoutes,
  userRoutes,
  roleRoutes,
  subscriptionRoutes,
  appRoutes,
  buildRoutes,
  uploadRoutes,
  taskRoutes,
  triggerRoutes,
  depotRoutes,
  deploymentRoutes,
  clientAppRoutes,
  traceRoutes,
  trainingRoutes,
]
