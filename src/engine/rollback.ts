import * as path from 'node:path'
import { ActionError } from '../errors.js'
import { sortReleases } from '../plans/release-id.js'
import { printableName } from '../plans/safe-names.js'
import {
  CURRENT_LINK,
  linkedRelease,
  ownReleases,
  refuseUnswitchableCurrent,
  RELEASES_DIR,
  switchCurrent
} from './release.js'
import { isTransient } from './retry.js'
import type { SftpSession } from './session.js'

/** What a rollback switches: from the live release to the newest one older than it. */
export interface RollbackPlan {
  from: string
  to: string
}

/**
 * Finds the release to go back to: the newest of the action's own releases under
 * `target/releases` that sorts before the one `target/current` points at (release IDs sort by
 * age). Nothing is changed here, so a dry run can say what would happen. The release rolled back
 * from is not touched: a later deploy's pruning removes it once it falls out of the kept ones.
 */
export async function planRollback(session: SftpSession, target: string): Promise<RollbackPlan> {
  const link = path.posix.join(target, CURRENT_LINK)
  await refuseUnswitchableCurrent(session, target)
  const [live] = await linkedRelease(session.main, link)
  if (!live) {
    throw nothingToRollBackTo(
      `'${printableName(link)}' does not exist or does not point into ${RELEASES_DIR}/, so there is no live release to go back from`
    )
  }
  const dir = path.posix.join(target, RELEASES_DIR)
  // Only releases this action made: a hand-made folder there is never switched to.
  const { ours: names } = await ownReleases(session, dir).catch((err: Error) => {
    if (isTransient(err, session)) throw err
    throw nothingToRollBackTo(`${printableName(dir)} cannot be listed (${err.message})`)
  })
  // The order pruning uses decides "older", whatever the IDs look like.
  const newestFirst = sortReleases([...new Set([...names, live])])
  const to = newestFirst[newestFirst.indexOf(live) + 1]
  if (!to) {
    throw nothingToRollBackTo(
      `${RELEASES_DIR}/${printableName(live)} is live and no older release is left in ${printableName(dir)}`
    )
  }
  return { from: live, to }
}

/** Points `current` at the older release with the same atomic link swap a deploy uses. */
export async function rollBack(
  session: SftpSession,
  target: string,
  plan: RollbackPlan
): Promise<void> {
  try {
    await switchCurrent(session, target, plan.to)
  } catch (err) {
    if (isTransient(err, session) || err instanceof ActionError) throw err
    throw new ActionError(
      'Rollback failed',
      `Could not point ${target}/current at releases/${plan.to}: ${(err as Error).message}.`,
      { cause: err }
    )
  }
}

function nothingToRollBackTo(why: string): ActionError {
  return new ActionError(
    'Nothing to roll back to',
    `Cannot roll back: ${why}. Nothing was changed.`
  )
}
