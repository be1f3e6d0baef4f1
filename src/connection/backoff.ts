/** 1 s, 2 s, 4 s, 8 s, then 10 s: a restarting server gets time, a dead one fails in minutes. */
export function backoffMs(attempt: number): number {
  return Math.min(1000 * 2 ** (attempt - 1), 10_000)
}
