/**
 * Text from outside the action (names and link texts on a server, its status messages and
 * DISCONNECT reasons, file names in the workspace) is data, never markup. One helper per place
 * such text is shown; each runs once, where the text is printed. The manifest is JSON and keeps
 * every name exact, so it uses none of these.
 *
 * A leaf module: every layer may import it.
 */

/**
 * Characters that must never reach a log line or a summary as they are: controls (a CR or LF
 * starts a new line the runner reads as a command; ESC drives the log's colours), line and
 * paragraph separators, and invisible ones. The runner compares command markers culture-
 * sensitively, which skips "ignorable" characters, so `:\u200b:` could still read as `::`.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/gu

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }

/** Every unprintable character as a visible escape: `\n`, `\r`, `\t`, `\u001b`, `\u{e0001}`. */
function showUnprintable(text: string): string {
  return text.replace(UNPRINTABLE, c => {
    if (NAMED[c]) return NAMED[c]
    const code = c.codePointAt(0) ?? 0
    return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`
  })
}

/**
 * For the log (`core.info` and every other line on stdout). The runner reads a line as a
 * workflow command when, after leading white space, it starts with `::` (`::add-mask::`,
 * `::error::`, `::stop-commands::`), or when it holds the legacy `##[command]` form anywhere.
 * So the result is one line, never starts with `::`, and holds no `##[`, wherever in a line it is
 * placed. The same text comes back unchanged if escaped again, so a message that already holds
 * an escaped name can be escaped as a whole where it is printed.
 */
export function forLog(text: string): string {
  return showUnprintable(text)
    .replace(/^(\s*):(?=:)/u, '$1\\u003a')
    .replace(/##\[/g, '#\\u0023[')
}

/** Markdown and HTML specials, written as character references in summaries. */
const SUMMARY_SPECIAL = /[&<>"'`\\*_[\]()#!~|$]/g

/**
 * For the job summary, which GitHub renders as Markdown with HTML. The result holds no newline
 * (a blank line would end the HTML table and let the rest render as Markdown), no HTML and no
 * Markdown: every special is a character reference, shown as itself. Use it on every cell or
 * text from outside, and only once (`&` becomes `&#38;`).
 */
export function forSummary(text: string): string {
  return showUnprintable(text).replace(SUMMARY_SPECIAL, c => `&#${c.charCodeAt(0)};`)
}
