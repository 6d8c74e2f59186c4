/**
 * How a tar the scanner refuses fails the mkraw task. API.md names one exception for a file that
 * is not a tar or is corrupt: `fileReadFailed{filename, typeExpected, typeDetected}`; a path
 * that leaves the build and a tar cut short keep codes of their own (`unsafePath`, `truncated`).
 */
import type { TarScanError } from '../../../engine/tar-scan'
import { TaskFailure } from '../../../tasks/types'

/** Exception codes that mean the tar itself is bad: retrying cannot help. */
export const TAR_CONTENT_CODES = ['fileReadFailed', 'unsafePath', 'truncated'] as const

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
