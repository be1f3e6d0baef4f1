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

/**
 * `work`'s value, unless `other` fails first: then `other`'s error at once, without waiting for
 * `work` (whose later failure is then ignored). For work that is only worth finishing while
 * something beside it still may succeed.
 */
export function unlessFailed<T>(work: Promise<T>, other: Promise<unknown>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    work.then(resolve, reject)
    other.catch(reject)
  })
}
