/** A message on the `tasks` queue: run step `seq` of task `taskName`. Keys only, never payloads. */
export interface TaskMessage {
  taskName: string
  seq: number
}
