/**
 * Sorting 1.6 M blocks with a comparator takes seconds; a radix sort on 32-bit keys takes
 * milliseconds and is stable, which keeps blocks with equal keys in block (file) order.
 */

/**
 * One stable counting pass: `from` reordered into `to` by the 16-bit digit
 * `(values[index] >>> shift) & 0xffff`.
 */
function countingPass(
  from: Uint32Array,
  to: Uint32Array,
  counts: Uint32Array,
  values: Uint32Array | Uint16Array,
  shift: number,
): void {
  counts.fill(0)
  const n = from.length
  for (let i = 0; i < n; i++) counts[(values[i] >>> shift) & 0xffff]++
  let start = 0
  for (let digit = 0; digit < counts.length; digit++) {
    const count = counts[digit]
    counts[digit] = start
    start += count
  }
  for (let i = 0; i < n; i++) {
    const index = from[i]
    to[counts[(values[index] >>> shift) & 0xffff]++] = index
  }
}

/**
 * The indices `0 .. keys.length - 1` sorted by `keys[index]`, equal keys by `ties[index]` when
 * given, then by index.
 *
 * @example sortByKey(Uint32Array.of(5, 1, 5, 0)) // Uint32Array [3, 1, 0, 2]
 * @example sortByKey(Uint32Array.of(5, 1, 5), Uint16Array.of(2, 0, 1)) // Uint32Array [1, 2, 0]
 */
export function sortByKey(keys: Uint32Array, ties?: Uint16Array): Uint32Array {
  const n = keys.length
  if (ties && ties.length !== n) throw new RangeError(`${ties.length} ties for ${n} keys`)
  let from = new Uint32Array(n)
  for (let i = 0; i < n; i++) from[i] = i
  let to = new Uint32Array(n)
  const counts = new Uint32Array(0x10000)
  // Least significant digit first: the ties, then the low and the high half of the key.
  const passes: Array<[Uint32Array | Uint16Array, number]> = [
    [keys, 0],
    [keys, 16],
  ]
  if (ties) passes.unshift([ties, 0])
  for (const [values, shift] of passes) {
    countingPass(from, to, counts, values, shift)
    const swap = from
    from = to
    to = swap
  }
  return from
}
