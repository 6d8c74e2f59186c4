/** How setup commands print: a short summary for people, or the API's answer with `--json`. */

/** Writes the answer as JSON (without the envelope's status) or the summary lines. */
export function printAnswer(
  json: boolean | undefined,
  answer: Record<string, unknown>,
  summary: string[],
): void {
  if (json) {
    const { status: _status, ...rest } = answer
    process.stdout.write(`${JSON.stringify(rest, null, 2)}\n`)
  } else {
    process.stdout.write(`${summary.join('\n')}\n`)
  }
}

/** Splits `a,b , c` into names; undefined stays undefined. */
export function nameList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined
  return value
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean)
}
