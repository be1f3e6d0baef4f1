/**
 * `work()`'s promise, with `done` called once it settles, however it settles (a synchronous
 * throw too). Not an async function: the engine calls this once per small file, and an async
 * frame per call was collector work with tens of thousands of files.
 */
export function whenSettled<T>(work: () => Promise<T>, done: () => void): Promise<T> {
  let running: Promise<T>
  try {
    running = work()
  } catch (err) {
    done()
    return Promise.reject(err as Error)
  }
  return running.then(
    value => {
      done()
      return value
    },
    (err: unknown) => {
      done()
      throw err
    }
  )
}
