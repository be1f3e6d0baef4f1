import {
  algorithmsFor,
  keyTypePlan,
  makeHostVerifier,
  type Presented
} from '../../src/connection/host-key.js'
import { ALL_HOST_KEY_TYPES } from '../../src/identity/fingerprint.js'
import { parsePins, pinsForHost } from '../../src/identity/pins.js'
import { KeyMaker, type RealKey } from './real-keys.js'

let keys: KeyMaker
let ed: RealKey
let ecdsa: RealKey
let rsa: RealKey

beforeAll(() => {
  keys = new KeyMaker()
  ed = keys.make(['-t', 'ed25519'])
  ecdsa = keys.make(['-t', 'ecdsa', '-b', '256'])
  rsa = keys.make(['-t', 'rsa', '-b', '2048'])
})

afterAll(() => keys.cleanup())

const pins = (text: string) => parsePins(text, 'fingerprint')

/** Calls the verifier the way ssh2 does and records everything about the call. */
function present(verifier: ReturnType<typeof makeHostVerifier>, blob: Buffer) {
  const answers: boolean[] = []
  const returned: unknown = verifier(blob, valid => answers.push(valid))
  // Copied before anything else can run: what was decided synchronously.
  return { returned, answers: [...answers] }
}

describe('makeHostVerifier', () => {
  it('accepts a pinned key synchronously, answering exactly once', async () => {
    const seen: Presented[] = []
    const verifier = makeHostVerifier(pins(ed.sha256), seen)
    const answers: boolean[] = []
    const returned: unknown = verifier(ed.blob, valid => answers.push(valid))
    expect(returned).toBeUndefined()
    expect(answers).toEqual([true])
    await new Promise(resolve => setImmediate(resolve))
    expect(answers).toEqual([true])
    expect(seen).toHaveLength(1)
    expect(seen).toEqual([
      {
        keyType: 'ssh-ed25519',
        fingerprint: ed.sha256,
        accepted: true,
        revoked: false,
        pinLabel: expect.stringContaining('(line 1)')
      }
    ])
  })

  it('with a gate, answers a pinned key only once the gate opens, and no when it closes', async () => {
    let open: (ok: boolean) => void = () => undefined
    const gate = new Promise<boolean>(resolve => (open = resolve))
    const answers: boolean[] = []
    const verifier = makeHostVerifier(pins(ed.sha256), [], gate)
    expect(verifier(ed.blob, valid => answers.push(valid))).toBeUndefined()
    await new Promise(resolve => setImmediate(resolve))
    expect(answers).toEqual([])
    open(true)
    await new Promise(resolve => setImmediate(resolve))
    expect(answers).toEqual([true])

    const closed: boolean[] = []
    const refused = Promise.reject(new Error('the destination is not the pinned server'))
    makeHostVerifier(pins(ed.sha256), [], refused)(ed.blob, valid => closed.push(valid))
    await new Promise(resolve => setImmediate(resolve))
    expect(closed).toEqual([false])
    // A key that matches no pin is refused at once, whatever the gate says.
    const never = new Promise<boolean>(() => undefined)
    expect(present(makeHostVerifier(pins(ed.sha256), [], never), ecdsa.blob).answers).toEqual([
      false
    ])
  })

  it('refuses a key that matches no pin, synchronously, and records it', () => {
    const seen: Presented[] = []
    const verifier = makeHostVerifier(pins(ed.sha256), seen)
    expect(present(verifier, ecdsa.blob)).toEqual({ returned: undefined, answers: [false] })
    expect(seen).toEqual([
      {
        keyType: 'ecdsa-sha2-nistp256',
        fingerprint: ecdsa.sha256,
        accepted: false,
        revoked: false,
        pinLabel: ''
      }
    ])
  })

  it('accepts each form of pin for the key it names', () => {
    for (const text of [
      ed.sha256,
      ed.md5,
      ed.listing,
      ed.publicLine,
      `example.com ${ed.publicLine}`
    ]) {
      const seen: Presented[] = []
      expect(present(makeHostVerifier(pins(text), seen), ed.blob).answers).toEqual([true])
      expect(seen[0].fingerprint).toBe(ed.sha256)
    }
  })

  it('refuses a typed pin when the key type differs, even with the same digest text', () => {
    const seen: Presented[] = []
    const wrongType = ed.listing.replace('(ED25519)', '(RSA)')
    expect(present(makeHostVerifier(pins(wrongType), seen), ed.blob).answers).toEqual([false])
  })

  it('refuses a revoked key even when another line pins it', () => {
    const seen: Presented[] = []
    const text = `${ed.sha256}\n@revoked example.com ${ed.publicLine}\n${rsa.sha256}`
    const verifier = makeHostVerifier(pinsForHost(pins(text), 'example.com', 22), seen)
    expect(present(verifier, ed.blob).answers).toEqual([false])
    expect(seen[0]).toMatchObject({ accepted: false, revoked: true, pinLabel: '' })
    expect(present(verifier, rsa.blob).answers).toEqual([true])
    expect(seen[1]).toMatchObject({
      accepted: true,
      revoked: false,
      pinLabel: expect.stringMatching(/line 3\)$/)
    })
  })

  it('records which pin matched', () => {
    const seen: Presented[] = []
    const text = `# comment\n${rsa.sha256}\n${ed.listing}`
    present(makeHostVerifier(pins(text), seen), ed.blob)
    expect(seen[0].pinLabel).toMatch(/^ssh-ed25519 SHA256:.{12}… \(line 3\)$/)
    expect(ed.sha256).toContain(seen[0].pinLabel.split(' ')[1].slice(0, -1))
  })

  it('decides the same way on every key exchange, recording each', () => {
    const seen: Presented[] = []
    const verifier = makeHostVerifier(pins(`${ed.sha256}\n${rsa.sha256}`), seen)
    const results = [ed, ecdsa, ed, rsa, ecdsa].map(k => present(verifier, k.blob).answers)
    expect(results).toEqual([[true], [false], [true], [true], [false]])
    expect(seen.map(s => s.fingerprint)).toEqual([ed, ecdsa, ed, rsa, ecdsa].map(k => k.sha256))
  })

  it('refuses an unreadable key without throwing', () => {
    for (const blob of [Buffer.alloc(0), Buffer.from([0, 0, 0, 99, 1]), Buffer.from('junk')]) {
      const seen: Presented[] = []
      expect(present(makeHostVerifier(pins(ed.sha256), seen), blob)).toEqual({
        returned: undefined,
        answers: [false]
      })
      expect(seen).toHaveLength(1)
      expect(seen[0]).toMatchObject({ accepted: false, revoked: false })
    }
  })
})

describe('keyTypePlan', () => {
  it('tries every default type for an untyped pin', () => {
    expect(keyTypePlan(pins(ed.sha256))).toEqual([...ALL_HOST_KEY_TYPES])
    expect(keyTypePlan(pins(ed.sha256))).not.toContain('ssh-dss')
  })

  it('asks only for the types typed pins name, in preference order', () => {
    expect(keyTypePlan(pins(ed.listing))).toEqual(['ssh-ed25519'])
    expect(keyTypePlan(pins(`${rsa.publicLine}\n${ed.publicLine}`))).toEqual([
      'ssh-ed25519',
      'ssh-rsa'
    ])
    expect(keyTypePlan(pins(`${rsa.listing}\n${ecdsa.listing}`))).toEqual([
      'ecdsa-sha2-nistp256',
      'ssh-rsa'
    ])
  })

  it('asks for ssh-dss only when a pin names it, after the defaults', () => {
    const dss = ed.listing.replace(/^\d+/, '1024').replace('(ED25519)', '(DSA)')
    expect(keyTypePlan(pins(dss))).toEqual(['ssh-dss'])
    expect(keyTypePlan(pins(`${dss}\n${rsa.listing}`))).toEqual(['ssh-rsa', 'ssh-dss'])
  })

  it('falls back to every type when any usable pin is untyped', () => {
    expect(keyTypePlan(pins(`${ed.listing}\n${rsa.sha256}`))).toEqual([...ALL_HOST_KEY_TYPES])
  })

  it('ignores revoked pins when choosing types', () => {
    const text = `@revoked ${rsa.sha256}\n${ed.listing}`
    expect(keyTypePlan(pins(text))).toEqual(['ssh-ed25519'])
  })
})

describe('algorithmsFor', () => {
  it('offers every RSA signature algorithm, strongest first', () => {
    expect(algorithmsFor(['ssh-rsa'])).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'])
  })

  it('keeps the order of the key types and drops duplicates', () => {
    expect(algorithmsFor(['ssh-ed25519', 'ssh-rsa', 'ssh-ed25519', 'ecdsa-sha2-nistp256'])).toEqual(
      ['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ecdsa-sha2-nistp256']
    )
  })

  it('maps a plan straight to algorithms', () => {
    expect(algorithmsFor(keyTypePlan(pins(ecdsa.publicLine)))).toEqual(['ecdsa-sha2-nistp256'])
    expect(algorithmsFor([])).toEqual([])
  })

  it('throws for a key type it cannot ask for', () => {
    expect(() => algorithmsFor(['ssh-unknown'])).toThrow(/ssh-unknown/)
  })
})
