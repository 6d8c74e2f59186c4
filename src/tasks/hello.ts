/** The `hello` test task: travels through the task queue and echoes its message. */
import type { TaskHandler } from './types'

export const helloTask: TaskHandler = {
  async step({ task }) {
    return {
      kind: 'done',
      result: { message: task.params.message ?? '', maintenance: task.params.maintenance ?? false },
    }
  },
}
