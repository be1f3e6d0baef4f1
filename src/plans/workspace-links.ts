import { lstatSync, realpathSync } from 'node:fs'
import * as path from 'node:path'
import { InputError } from '../errors.js'
import { isInsideDir, printableName } from './safe-names.js'

/** Where the links met while reading one upload source may lead, and how to name that place. */
export interface LinkBoundary {
  /** Real (link-free) folders a link may resolve into. */
  roots: string[]
  /** The place in words, for messages: "the workspace" or "the source folder … and the workspace". */
  described: string
}

/**
 * The rule for links in an upload source. A checkout is foreign data: a pull request can commit
 * `site -> /home/runner`, and a workflow that uploads `site/` would then publish the runner's
 * files. What the workflow's author writes is trusted, what the checkout contains is not. So:
 * - A source inside the workspace (as written, relative or absolute) must stay inside the
 *   workspace once links are resolved: every folder on the way to it, the source itself, and
 *   every file or folder link met below it.
 * - A source the author writes outside the workspace (`${{ runner.temp }}/build`) is taken as
 *   written, whatever links its own path passes through (`/tmp` is one on macOS); links below
 *   it may lead into it or into the workspace, nowhere else.
 * Throws InputError naming the first link on the way to `root` that leaves the workspace.
 */
export function linkBoundary(workspace: string, root: string): LinkBoundary {
  const realWorkspace = realOrUndefined(workspace) ?? path.resolve(workspace)
  // Either spelling of the workspace counts, so naming its real path cannot skip the check.
  const from = [path.resolve(workspace), realWorkspace].find(w => isInsideDir(w, root))
  if (from === undefined) {
    const realRoot = realOrUndefined(root) ?? root
    return {
      roots: [realRoot, realWorkspace],
      described: `the source folder ${printableName(realRoot)} and the workspace`
    }
  }
  const boundary = { roots: [realWorkspace], described: 'the workspace' }
  let current = from
  for (const part of path.relative(from, root).split(path.sep).filter(Boolean)) {
    current = path.join(current, part)
    const real = realOrUndefined(current)
    // A missing part is reported as "matches no file" by the caller.
    if (real === undefined) return boundary
    // Only a link can lead elsewhere: the first part to do so is the one to name.
    const refusal = lstatSync(current).isSymbolicLink() ? linkRefusal(boundary, real) : undefined
    if (refusal) throw linkEscapeError(path.relative(from, current), real, refusal)
  }
  return boundary
}

/** Whether a resolved path lies inside the boundary (its roots themselves included). */
export function isWithin(boundary: LinkBoundary, real: string): boolean {
  return boundary.roots.some(root => isInsideDir(root, real))
}

/**
 * Why a link resolving to `real` is not followed, or undefined when it may be. Inside the
 * workspace, a `.git` folder is off limits too: actions/checkout keeps the job's token in
 * `.git/config`, and a committed `public/x -> ../.git/config` would publish it.
 */
export function linkRefusal(boundary: LinkBoundary, real: string): string | undefined {
  const root = boundary.roots.find(r => isInsideDir(r, real))
  if (root === undefined) return `leads outside ${boundary.described}`
  // On case-insensitive file systems (macOS, Windows) `.GIT` is the same folder.
  const parts = path.relative(root, real).split(path.sep)
  const caseless = process.platform === 'darwin' || process.platform === 'win32'
  if (parts.some(p => p === '.git' || (caseless && p.toLowerCase() === '.git'))) {
    return "leads into a .git folder, where the checkout's credentials are kept"
  }
  return undefined
}

/**
 * The error for a link that is not followed (`refusal` says why, from linkRefusal). Names are shown escaped: they come from the
 * checkout. `others` counts further such links met below the source (which a `!` line can
 * leave out), so one error tells the whole story; without it the link is on the way to it.
 */
export function linkEscapeError(
  link: string,
  real: string,
  refusal: string,
  others?: number
): InputError {
  const more = others ? ` (and ${others} more link${others === 1 ? '' : 's'} like it)` : ''
  const fix =
    others === undefined
      ? 'Replace the link with the real folder, or name a folder outside the workspace in ' +
        'full (e.g. ${{ runner.temp }}/build).'
      : "Replace the link with the file or folder itself, or leave it out with a '!' line."
  return new InputError(
    'source',
    `'${printableName(link)}' is a symbolic link that ${refusal} ` +
      `(to ${printableName(real)})${more}. A checkout can carry such a link, so an upload ` +
      `never follows one. ${fix}`
  )
}

export function realOrUndefined(p: string): string | undefined {
  try {
    return realpathSync(p)
  } catch {
    return undefined
  }
}
