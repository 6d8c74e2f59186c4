/**
 * How a tar the scanner refuses fails the mkraw task. API.md names one exception for a file that
 * is not a tar or is corrupt: `fileReadFailed{filename, typeExpected, typeDetected}`; a path
 * that leaves the build and a tar cut short keep codes of their own (`unsafePath`, `truncated`),
 * as do the problems only the whole file table shows (`duplicatePath`, `pathConflict`).
 */
import { checkBuildTree, type TreeProblem } from '../../../engine/build-tree'
import { TAR_RECORD } from '../../../engine/tar-header'
import type { ScannedFile, TarScanError } from '../../../engine/tar-scan'
import { TaskFailure } from '../../../tasks/types'

/** Exception codes that mean the tar itself is bad: retrying cannot help. */
export const TAR_CONTENT_CODES = [
  'fileReadFailed',
  'unsafePath',
  'truncated',
  'duplicatePath',
  'pathConflict',
] as const

/** The file name reported when the whole upload is not a tar. */
export const TAR_FILENAME = 'build.tar'

/** The task failure for a scan error. */
export function tarFailure(error: TarScanError): TaskFailure {
  const at = error.offset === undefined ? {} : { offset: error.offset }
  if (error.code === 'unsafePath' || error.code === 'truncated') {
    return new TaskFailure({
      code: error.code,
      message: error.message,
      filename: error.filename ?? TAR_FILENAME,
      ...at,
    })
  }
  // badChecksum, badHeader, unsupportedEntry: the tar is corrupt from this entry on.
  return new TaskFailure({
    code: 'fileReadFailed',
    message: error.message,
    filename: error.filename ?? TAR_FILENAME,
    typeExpected: error.typeExpected ?? 'tar',
    typeDetected: error.typeDetected ?? 'corrupt tar',
    ...(error.code === 'fileReadFailed' ? {} : { reason: error.code }),
    ...at,
  })
}

/**
 * The task failure for a build the whole-tree check refuses; `headerOffset` is where the
 * named entry's tar header starts.
 */
export function treeFailure(problem: TreeProblem, headerOffset: number): TaskFailure {
  const what =
    problem.code === 'unsafePath'
      ? 'unsafe path in the tar'
      : problem.code === 'duplicatePath'
        ? 'a path the tar holds twice'
        : 'a path the tar holds as a file and a folder'
  return new TaskFailure({
    code: problem.code,
    message: `${what}: ${problem.message}`,
    filename: problem.filename,
    offset: headerOffset,
  })
}

/**
 * Refuses a build the whole-tree check finds unsafe (`checkBuildTree`), naming the entry and
 * where its header starts in the tar. Run on the complete file table, before the image.
 */
export function refuseUnsafeTree(files: readonly ScannedFile[]): void {
  const problem = checkBuildTree(files)
  if (problem) throw treeFailure(problem, files[problem.index].tarDataOffset - TAR_RECORD)
}
