/**
 * What the GitHub Actions runner would take for workflow commands in a step's stdout, modelled
 * on actions/runner (src/Runner.Common/ActionCommand.cs, TryParseV2 then TryParse): the runner
 * reads stdout line by line (CR, LF or CRLF end a line); a line is a command when, after leading
 * white space, it starts with `::name` followed by `::`, or when it holds `##[name]` anywhere
 * (the legacy form). Command names are matched ignoring case. The runner compares culture-
 * sensitively, which skips invisible characters; this model does not, so tests also check that
 * no invisible character is printed at all.
 */
const REGISTERED = new Set([
  'stop-commands',
  'set-env',
  'set-output',
  'save-state',
  'add-mask',
  'add-path',
  'add-matcher',
  'remove-matcher',
  'warning',
  'error',
  'notice',
  'debug',
  'group',
  'endgroup',
  'echo'
])

export interface RunnerCommand {
  command: string
  /** The name and properties, as between `::` and `::` (or `##[` and `]`). */
  info: string
  /** The command's data, still escaped (%0A and so on) as it stood in the line. */
  data: string
  line: string
}

/** The command one line would issue, if any. */
export function parseRunnerLine(line: string): RunnerCommand | undefined {
  // .NET's TrimStart removes Unicode white space, NEL and U+180E included.
  const trimmed = line.replace(/^[\s\u0085\u180e]+/u, '')
  if (trimmed.startsWith('::')) {
    const end = trimmed.indexOf('::', 2)
    if (end >= 0) {
      const info = trimmed.slice(2, end)
      const name = info.split(' ')[0].toLowerCase()
      if (REGISTERED.has(name)) return { command: name, info, data: trimmed.slice(end + 2), line }
    }
  }
  const prefix = line.indexOf('##[')
  if (prefix >= 0) {
    const close = line.indexOf(']', prefix)
    if (close >= 0) {
      const info = line.slice(prefix + 3, close)
      const name = info.split(' ')[0].toLowerCase()
      if (REGISTERED.has(name)) return { command: name, info, data: line.slice(close + 1), line }
    }
  }
  return undefined
}

/** Every command the runner would act on in this stdout. */
export function runnerCommands(stdout: string): RunnerCommand[] {
  return stdout
    .split(/\r\n|\r|\n/)
    .map(parseRunnerLine)
    .filter((c): c is RunnerCommand => c !== undefined)
}

export interface RunnerLog {
  /** The step log as a runner shows it: secrets masked, ::add-mask:: and ::debug:: lines hidden. */
  lines: string[]
  /** How many ::add-mask:: commands the step sent (each one a secret kept out of the log). */
  masks: number
  /** The `::error::` lines as they stand in that log. */
  errorLines: string[]
}

/** Applies the commands a runner acts on before it shows a step's output. */
export function runnerLog(output: string): RunnerLog {
  const secrets: string[] = []
  const lines: string[] = []
  let masks = 0
  const mask = (line: string): string =>
    secrets.reduce((masked, secret) => masked.split(secret).join('***'), line)
  for (const line of output.replace(/\r?\n$/, '').split(/\r?\n/)) {
    const command = parseRunnerLine(line)
    if (command?.command === 'add-mask') {
      masks++
      const value = decodeCommandData(command.data)
      if (value) secrets.push(value)
      secrets.sort((a, b) => b.length - a.length)
      continue
    }
    if (command?.command === 'debug') continue
    lines.push(mask(line))
  }
  return { lines, masks, errorLines: lines.filter(line => /^::error[\s:]/.test(line)) }
}

/** Undoes @actions/core's escaping of command data. */
export function decodeCommandData(text: string): string {
  return text.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%')
}
