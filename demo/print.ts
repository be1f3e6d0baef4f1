/** Terminal output for the demo: plain text, colours only on a TTY (and never with NO_COLOR). */

const useColor =
  process.stdout.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== 'dumb'

const paint =
  (code: string) =>
  (text: string): string =>
    useColor ? `\x1b[${code}m${text}\x1b[0m` : text

export const bold = paint('1')
export const dim = paint('2')
export const red = paint('31')
export const green = paint('32')
export const yellow = paint('33')
export const cyan = paint('36')

export function say(text = ''): void {
  process.stdout.write(`${text}\n`)
}

/** Prefixes every line of text (an empty text gives one prefixed '(empty)' line). */
export function indent(text: string, prefix = '    '): string {
  const lines = text.replace(/\s+$/, '').split('\n')
  if (lines.length === 1 && lines[0] === '') return `${prefix}${dim('(empty)')}`
  return lines.map(line => `${prefix}${line}`.trimEnd()).join('\n')
}

export function section(title: string): void {
  say()
  say(bold(`== ${title} ${'='.repeat(Math.max(3, 96 - title.length))}`))
}

export function pass(text: string): string {
  return `${green('PASS')} ${text}`
}

export function fail(text: string): string {
  return `${red('FAIL')} ${text}`
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`
}

/** Columns padded to their widest cell, separated by two spaces. */
export function columns(rows: string[][]): string[] {
  const widths: number[] = []
  for (const row of rows) {
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell))))
  }
  return rows.map(row =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : pad(cell, widths[i])))
      .join('  ')
      .trimEnd()
  )
}

function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '').length
}

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - visibleLength(text)))
}
