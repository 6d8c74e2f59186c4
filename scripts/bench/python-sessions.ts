/**
 * Sessions of the Python benchmark (`npm run bench:python`): Debian's python3.11 runs a small
 * program of the build (`app/main.py`) on the build's copy of the standard library, and each
 * session asks it for a few jobs, each importing its own part of the library, as each game
 * session loads the engine and then the assets of where the player goes. The program, the jobs
 * and the plans are fixed here; the library is the machine's own.
 */
import { spawnSync } from 'node:child_process'
import { cp, mkdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { recordTrace, writeTrace } from '../../cli/commands/trace-record'

/** Debian's interpreter and the library it ships with (packages python3.11-minimal, libpython3.11-stdlib). */
export const PYTHON = '/usr/bin/python3.11'
export const PYTHON_LIBRARY = '/usr/lib/python3.11'

/** Names of the jobs, for a session's command line. */
export const jobNames = () => JOBS.map((job) => job.name)

/**
 * The jobs `app/main.py` knows, each a few lines of real work on the modules it imports, with
 * how often a session asks for it (weights: some jobs are common, others rare).
 */
const JOBS: { name: string; weight: number; code: string }[] = [
  {
    name: 'json',
    weight: 6,
    code: `import json
    data = {"levels": [{"id": i, "name": f"level-{i}", "tiles": list(range(i % 7))} for i in range(200)]}
    assert json.loads(json.dumps(data, indent=1)) == data`,
  },
  {
    name: 'config',
    weight: 5,
    code: `import argparse, configparser, textwrap
    parser = argparse.ArgumentParser(prog="game")
    parser.add_argument("--quality", choices=["low", "high"], default="high")
    assert parser.parse_args([]).quality == "high"
    config = configparser.ConfigParser()
    config.read_string(textwrap.dedent("""
        [video]
        width = 1920
    """))
    assert config.getint("video", "width") == 1920`,
  },
  {
    name: 'logging',
    weight: 5,
    code: `import logging, pprint, io
    stream = io.StringIO()
    logging.basicConfig(stream=stream, level=logging.INFO)
    logging.getLogger("game").info("started %s", pprint.pformat({"a": 1}))
    assert "started" in stream.getvalue()`,
  },
  {
    name: 'csv-stats',
    weight: 3,
    code: `import csv, io, statistics
    rows = io.StringIO()
    csv.writer(rows).writerows([[i, i * i % 17] for i in range(500)])
    values = [int(row[1]) for row in csv.reader(io.StringIO(rows.getvalue()))]
    assert statistics.mean(values) > 0 and statistics.stdev(values) > 0`,
  },
  {
    name: 'xml',
    weight: 2,
    code: `import xml.etree.ElementTree as ET, xml.dom.minidom
    root = ET.Element("scene")
    for i in range(100):
        ET.SubElement(root, "entity", id=str(i)).text = "x" * (i % 5)
    text = ET.tostring(root)
    assert len(ET.fromstring(text)) == 100
    assert xml.dom.minidom.parseString(text).documentElement.tagName == "scene"`,
  },
  {
    name: 'email',
    weight: 1,
    code: `from email.message import EmailMessage
    from email import policy
    from email.parser import BytesParser
    message = EmailMessage()
    message["Subject"] = "save game"
    message.set_content("see attachment")
    message.add_attachment(b"\\x00" * 100, maintype="application", subtype="octet-stream", filename="save.bin")
    parsed = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
    assert parsed["Subject"] == "save game"`,
  },
  {
    name: 'sqlite',
    weight: 2,
    code: `import sqlite3
    db = sqlite3.connect(":memory:")
    db.execute("create table scores(player text, score int)")
    db.executemany("insert into scores values (?, ?)", [(f"p{i}", i * 7 % 101) for i in range(300)])
    assert db.execute("select max(score) from scores").fetchone()[0] == 100`,
  },
  {
    name: 'asyncio',
    weight: 2,
    code: `import asyncio
    async def tick(i):
        await asyncio.sleep(0)
        return i
    async def main():
        return await asyncio.gather(*[tick(i) for i in range(50)])
    assert sum(asyncio.run(main())) == 1225`,
  },
  {
    name: 'numbers',
    weight: 2,
    code: `import decimal, fractions, random
    random.seed(7)
    total = sum(decimal.Decimal(random.randint(1, 9)) / 10 for _ in range(100))
    assert total > 0 and fractions.Fraction(3, 9) == fractions.Fraction(1, 3)`,
  },
  {
    name: 'archives',
    weight: 1,
    code: `import io, tarfile, zipfile
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.txt", "a" * 1000)
    assert zipfile.ZipFile(buffer).read("a.txt") == b"a" * 1000
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("b.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))`,
  },
  {
    name: 'compression',
    weight: 1,
    code: `import bz2, gzip, lzma
    payload = b"texture " * 2000
    for codec in (bz2, gzip, lzma):
        assert codec.decompress(codec.compress(payload)) == payload`,
  },
  {
    name: 'diff',
    weight: 1,
    code: `import difflib
    a = [f"line {i}" for i in range(100)]
    b = a[:50] + ["changed"] + a[51:]
    assert any(line.startswith("+changed") for line in difflib.unified_diff(a, b))`,
  },
  {
    name: 'html',
    weight: 1,
    code: `import html, html.parser
    class Links(html.parser.HTMLParser):
        found = 0
        def handle_starttag(self, tag, attrs):
            self.found += tag == "a"
    page = Links()
    page.feed("<p>" + "<a href='x'>" * 20 + html.escape("<&>") + "</p>")
    assert page.found == 20`,
  },
  {
    name: 'dates',
    weight: 2,
    code: `import calendar, datetime, time
    day = datetime.date(2026, 12, 4)
    assert calendar.day_name[day.weekday()] == "Friday"
    assert time.strftime("%Y", time.gmtime(0)) == "1970"`,
  },
  {
    name: 'unittest',
    weight: 1,
    code: `import unittest, io
    class T(unittest.TestCase):
        def test_ok(self):
            self.assertEqual(1 + 1, 2)
    result = unittest.TextTestRunner(stream=io.StringIO()).run(unittest.defaultTestLoader.loadTestsFromTestCase(T))
    assert result.wasSuccessful()`,
  },
  {
    name: 'crypto',
    weight: 2,
    code: `import base64, hashlib, hmac, pickle, secrets
    blob = pickle.dumps({"save": list(range(100))})
    digest = hmac.new(b"key", blob, hashlib.sha256).digest()
    assert base64.b64decode(base64.b64encode(digest)) == digest and len(secrets.token_hex(4)) == 8`,
  },
  {
    name: 'threads',
    weight: 1,
    code: `import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        assert sum(pool.map(lambda x: x * x, range(10))) == 285`,
  },
  {
    name: 'urls',
    weight: 1,
    code: `import mimetypes, urllib.parse, http.cookies
    url = urllib.parse.urlsplit("https://cdn.example/dxf/a/b?x=1")
    assert urllib.parse.parse_qs(url.query) == {"x": ["1"]}
    assert mimetypes.guess_type("a.json")[0] == "application/json"
    cookie = http.cookies.SimpleCookie()
    cookie["session"] = "1"`,
  },
  {
    name: 'types',
    weight: 1,
    code: `import dataclasses, enum, typing
    class Kind(enum.Enum):
        A = 1
    @dataclasses.dataclass
    class Item:
        kind: Kind
        tags: typing.List[str]
    assert dataclasses.asdict(Item(Kind.A, ["x"]))["tags"] == ["x"]`,
  },
]

/** `app/main.py`: runs the jobs named on its command line, in order. */
export function mainProgram(): string {
  const jobs = JOBS.map((job) => `def job_${job.name.replace(/-/g, '_')}():\n    ${job.code}\n`)
  return [
    '"""The benchmark program: each session runs a few jobs, each importing its own modules."""',
    'import sys',
    '',
    ...jobs,
    'if __name__ == "__main__":',
    '    for name in sys.argv[1:]:',
    '        globals()["job_" + name.replace("-", "_")]()',
    '',
  ].join('\n')
}

/** Where things are inside the build folder. */
export const pythonLayout = { program: 'app/main.py', library: 'lib/python3.11' }

/**
 * Copies the machine's Python library into `appDir/lib/python3.11` (times kept, so the
 * compiled `__pycache__` files stay valid and Python reads them instead of compiling; links
 * followed, since a build's links must stay inside it) and
 * writes the program. Fails with what to install when the library is missing.
 */
export async function copyPythonWorld(appDir: string): Promise<void> {
  const found = await stat(PYTHON_LIBRARY).catch(() => null)
  if (!found || spawnSync(PYTHON, ['-c', 'pass']).status !== 0) {
    throw new Error(`${PYTHON} with ${PYTHON_LIBRARY} is needed: apt-get install python3.11`)
  }
  await mkdir(join(appDir, 'lib'), { recursive: true })
  await cp(PYTHON_LIBRARY, join(appDir, pythonLayout.library), {
    recursive: true,
    preserveTimestamps: true,
    // Debian links a few files to /etc and /usr: the build holds their contents instead.
    dereference: true,
    // Not part of what a program imports: the library's own test suite and caches of tools.
    filter: (source) => !/\/(test|idlelib|tkinter|turtledemo|lib2to3\/tests)(\/|$)/.test(source),
  })
  await mkdir(join(appDir, 'app'), { recursive: true })
  await writeFile(join(appDir, pythonLayout.program), mainProgram())
}

/** A seeded generator of numbers in [0, 1). */
function seeded(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/**
 * The jobs of session `index`: `json`, `config` or `logging` first (what every start needs
 * in some form), then 2 to 4 more picked by weight, without repeats.
 */
export function planPythonSession(index: number): string[] {
  const random = seeded(1000 + index)
  const first = ['json', 'config', 'logging'][Math.floor(random() * 3)]
  const jobs = [first]
  const more = 2 + Math.floor(random() * 3)
  while (jobs.length < 1 + more) {
    const open = JOBS.filter((job) => !jobs.includes(job.name))
    let pick = random() * open.reduce((sum, job) => sum + job.weight, 0)
    let job = open[open.length - 1]
    for (const candidate of open) {
      pick -= candidate.weight
      if (pick < 0) {
        job = candidate
        break
      }
    }
    jobs.push(job.name)
  }
  return jobs
}

/** A recorded session. */
export interface PythonSession {
  name: string
  file: string
  jobs: string[]
  reads: number
  files: number
  durationMs: number
}

/** Runs each planned session under strace and writes its trace, gzip, under `workDir/traces`. */
export async function recordPythonSessions(opts: {
  appDir: string
  workDir: string
  count: number
  log: (line: string) => void
}): Promise<PythonSession[]> {
  await mkdir(join(opts.workDir, 'traces'), { recursive: true })
  const sessions: PythonSession[] = []
  for (let index = 0; index < opts.count; index++) {
    const name = `session-${String(index + 1).padStart(2, '0')}`
    const jobs = planPythonSession(index)
    const command = [
      'env',
      `PYTHONHOME=${opts.appDir}`,
      'PYTHONDONTWRITEBYTECODE=1',
      PYTHON,
      '-s',
      join(opts.appDir, pythonLayout.program),
      ...jobs,
    ]
    const trace = await recordTrace({
      root: opts.appDir,
      command,
      cwd: opts.workDir,
      stdio: 'ignore',
      sessionId: `bench-python-${name}-${Date.now()}`,
    })
    if (trace.exitCode !== 0) throw new Error(`${name} (${jobs.join(' ')}): exit ${trace.exitCode}`)
    const file = join(opts.workDir, 'traces', `${name}.ndjson.gz`)
    await writeTrace(file, trace.header, trace.reads)
    const files = new Set(trace.reads.map((read) => read[1])).size
    const { durationMs } = trace.header
    sessions.push({ name, file, jobs, reads: trace.reads.length, files, durationMs })
    opts.log(
      `bench:   ${name}: ${jobs.join(' ')}: ${durationMs} ms, ${trace.reads.length} reads of ${files} files`,
    )
  }
  return sessions
}
