/**
 * Draws docs/plots/time-to-play.svg from the figures `npm run demo -- --json <file>` writes:
 * median time to play on the held-out sessions against bandwidth (log scale), one line per
 * order, with the full download as a dashed reference.
 *
 * Usage: npx tsx scripts/plot-svg.ts <demo.json> [out.svg]
 */
import { readFile, writeFile } from 'node:fs/promises'
import { basename, resolve } from 'node:path'

/** The part of the demo's JSON the plot reads. */
export interface PlotInput {
  date: string
  build: { dir: string; tarBytes: number; blockSize: number }
  heldOut: string[]
  report: {
    rows: Array<{ name: string; bandwidths: Array<{ mbit: number; median: { seconds: number } }> }>
  }
}

const WIDTH = 760
const HEIGHT = 440
const MARGIN = { left: 64, right: 150, top: 48, bottom: 56 }

/** How each order is drawn. */
const STYLES: Record<string, { color: string; dash?: string; label: string }> = {
  'full download': { color: '#9e9e9e', dash: '6 4', label: 'full download' },
  native: { color: '#d1495b', label: 'native (tar order)' },
  'file-level': { color: '#edae49', label: 'file-level' },
  image: { color: '#00798c', label: 'image (service)' },
  ideal: { color: '#30638e', dash: '2 3', label: 'ideal (lower bound)' },
}

/** A round step for about `count` ticks up to `max`. */
function tickStep(max: number, count: number): number {
  const raw = max / count
  const power = 10 ** Math.floor(Math.log10(raw))
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((step) => step >= raw) ?? raw
}

const xmlText = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

type Attributes = Record<string, string | number | undefined>

/** One SVG element; numbers are rounded to a tenth, undefined attributes left out. */
function tag(name: string, attributes: Attributes, body?: string): string {
  const pairs = Object.entries(attributes)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => {
      const text = typeof value === 'number' ? String(Math.round(value * 10) / 10) : value
      return `${key}="${xmlText(text as string)}"`
    })
  const open = [`<${name}`, ...pairs].join(' ')
  return body === undefined ? `${open}/>` : `${open}>${body}</${name}>`
}

/**
 * The SVG text of the plot.
 *
 * @example await writeFile('plot.svg', timeToPlaySvg(JSON.parse(json)))
 */
export function timeToPlaySvg(input: PlotInput): string {
  const rows = input.report.rows.filter((row) => STYLES[row.name])
  const mbits = rows[0]?.bandwidths.map((cell) => cell.mbit) ?? []
  if (mbits.length < 2) throw new Error('the figures need at least two bandwidths to plot')
  const maxSeconds = Math.max(
    ...rows.flatMap((row) => row.bandwidths.map((cell) => cell.median.seconds)),
  )
  const step = tickStep(maxSeconds, 6)
  const yMax = Math.ceil(maxSeconds / step) * step

  const { left, top } = MARGIN
  const width = WIDTH - MARGIN.left - MARGIN.right
  const height = HEIGHT - MARGIN.top - MARGIN.bottom
  const [low, high] = [Math.log10(mbits[0]), Math.log10(mbits[mbits.length - 1])]
  const x = (mbit: number) => left + ((Math.log10(mbit) - low) / (high - low)) * width
  const y = (seconds: number) => top + height - (seconds / yMax) * height
  const mib = (input.build.tarBytes / 2 ** 20).toFixed(1)
  const subtitle =
    `sessions of ${basename(input.build.dir)}, ${mib} MiB, ` +
    `blocks of ${input.build.blockSize / 1024} KiB; ${input.heldOut.length} held-out sessions; ` +
    input.date.slice(0, 10)

  const parts = [
    tag('rect', { width: WIDTH, height: HEIGHT, fill: '#ffffff' }),
    tag(
      'text',
      { x: left, y: 22, 'font-size': 15, 'font-weight': 'bold' },
      'Time to play against bandwidth (median over held-out sessions)',
    ),
    tag('text', { x: left, y: 38, fill: '#555555' }, xmlText(subtitle)),
  ]
  for (let seconds = 0; seconds <= yMax + step / 2; seconds += step) {
    const label = String(Number(seconds.toFixed(2)))
    parts.push(
      tag('line', {
        x1: left,
        x2: left + width,
        y1: y(seconds),
        y2: y(seconds),
        stroke: '#e6e6e6',
      }),
      tag('text', { x: left - 8, y: y(seconds) + 4, 'text-anchor': 'end' }, label),
    )
  }
  for (const mbit of mbits) {
    parts.push(
      tag('line', { x1: x(mbit), x2: x(mbit), y1: top, y2: top + height, stroke: '#f0f0f0' }),
      tag('text', { x: x(mbit), y: top + height + 18, 'text-anchor': 'middle' }, String(mbit)),
    )
  }
  parts.push(
    tag('rect', { x: left, y: top, width, height, fill: 'none', stroke: '#333333' }),
    tag(
      'text',
      { x: left + width / 2, y: HEIGHT - 14, 'text-anchor': 'middle' },
      'bandwidth (Mbit/s, log scale)',
    ),
    tag(
      'text',
      { transform: `translate(18 ${top + height / 2}) rotate(-90)`, 'text-anchor': 'middle' },
      'time to play (s)',
    ),
  )

  rows.forEach((row, i) => {
    const style = STYLES[row.name]
    const stroke = { stroke: style.color, 'stroke-width': 2, 'stroke-dasharray': style.dash }
    const points = row.bandwidths
      .map((cell) => `${x(cell.mbit).toFixed(1)},${y(cell.median.seconds).toFixed(1)}`)
      .join(' ')
    parts.push(tag('polyline', { points, fill: 'none', ...stroke }))
    for (const cell of row.bandwidths) {
      const tip = `${row.name}: ${cell.median.seconds.toFixed(2)} s at ${cell.mbit} Mbit/s`
      const dot = { cx: x(cell.mbit), cy: y(cell.median.seconds), r: 3, fill: style.color }
      parts.push(tag('circle', dot, tag('title', {}, xmlText(tip))))
    }
    const legendX = left + width + 14
    const legendY = top + 12 + i * 20
    parts.push(
      tag('line', { x1: legendX, x2: legendX + 22, y1: legendY, y2: legendY, ...stroke }),
      tag('text', { x: legendX + 28, y: legendY + 4 }, xmlText(style.label)),
    )
  })
  const svg = {
    xmlns: 'http://www.w3.org/2000/svg',
    width: WIDTH,
    height: HEIGHT,
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    'font-family': 'sans-serif',
    'font-size': 12,
  }
  return `${tag('svg', svg, `\n${parts.join('\n')}\n`)}\n`
}

async function main(): Promise<number> {
  const [input, output = 'docs/plots/time-to-play.svg'] = process.argv.slice(2)
  if (!input) {
    process.stderr.write('usage: npx tsx scripts/plot-svg.ts <demo.json> [out.svg]\n')
    return 2
  }
  const figures = JSON.parse(await readFile(input, 'utf8')) as PlotInput
  await writeFile(output, timeToPlaySvg(figures))
  process.stderr.write(`wrote ${output}\n`)
  return 0
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main().then((code) => {
    process.exitCode = code
  })
}
