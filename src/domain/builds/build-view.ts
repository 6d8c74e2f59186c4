/** The build object as the API shows it. */
import type { BuildRow } from './build-job'

/** A build waits for its tar (pending), is imported by mkraw, is kept (ready), or not. */
export const BUILD_STATES = ['pending', 'importing', 'ready', 'failed', 'deleted'] as const
export type BuildState = (typeof BUILD_STATES)[number]

export interface BuildView {
  buildId: number
  buildName: string
  appName: string
  state: BuildState
  sizeBytes: number
  files: number
  blocks: number
  blockSize: number
  dxfName: string | null
  created: string
}

export function buildView(row: BuildRow, appName: string): BuildView {
  return {
    buildId: row.buildId,
    buildName: row.buildName,
    appName,
    state: row.state as BuildState,
    sizeBytes: row.sizeBytes,
    files: row.files,
    blocks: row.blocks,
    blockSize: row.blockSize,
    dxfName: row.dxfName,
    created: row.created,
  }
}
