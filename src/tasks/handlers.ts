/** The handler of each task type. */
import { dltarTask } from '../domain/builds/dltar/task'
import { mkrawTask } from '../domain/builds/mkraw/task'
import { deployTask } from './deploy'
import { helloTask } from './hello'
import { mkdxfTask } from './mkdxf'
import { pruneTask } from './prune'
import type { TaskHandler, TaskType } from './types'

export const taskHandlers: Record<TaskType, TaskHandler> = {
  hello: helloTask,
  dltar: dltarTask,
  mkraw: mkrawTask,
  mkdxf: mkdxfTask,
  deploy: deployTask,
  prune: pruneTask,
}
