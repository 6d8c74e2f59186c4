/**
 * The `prune` task: erases what a scope holds. `params.scope` says which; each scope's steps live
 * with its domain.
 */
import { eraseAppStep } from '../domain/apps/erase-app'
import { pruneDeploymentStep } from '../domain/deployments/prune-deployment'
import { eraseOrgStep } from '../domain/orgs/erase-org'
import { TaskFailure, type TaskHandler } from './types'

export const pruneTask: TaskHandler = {
  async step(ctx) {
    const scope = ctx.task.params.scope
    switch (scope) {
      case 'org':
        return eraseOrgStep(ctx)
      case 'app':
        return eraseAppStep(ctx)
      case 'deployment':
        return pruneDeploymentStep(ctx)
      default:
        throw new TaskFailure({
          code: 'badParams',
          message: `prune scope ${JSON.stringify(scope)} is unknown`,
        })
    }
  },
}
