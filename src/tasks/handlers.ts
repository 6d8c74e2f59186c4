/** The handler of each task type. Add a type here when its module exists. */
import { dltarTask } from '../domain/builds/dltar/task'
import { mkrawTask } from '../domain/builds/mkraw/task'
import { deployTask } from './deploy'
import { helloTask } from './hello'
import { mkdxfTask } from './mkdxf'
import { pruneTask } from './prune'
import { TaskFailure, type TaskHandler, type TaskType } from './types'

function unavailable(type: TaskType): TaskHandler {
  return {
    async step() {
      throw new TaskFailure({
        code: 'notImplemented',
        message: `${type} tasks are not available yet`,
      })
    },
  }
}

// TODO(#3): replace the unavailable dltar, mkraw, deploy, prune and mkdxf handlers with their modules.
export const taskHandlers: Record<TaskType, TaskHandler> = {
  hello: helloTask,
  dltar: dltarTask,
  mkraw: mkrawTask,
  mkdxf: mkdxfTask,
  deploy: deployTask,
  prune: pruneTask,
}
