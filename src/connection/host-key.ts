import { ALL_HOST_KEY_TYPES, hostKeyAlgorithmsFor } from '../identity/fingerprint.js'
import { judgeHostKey, pinnedKeyTypes, type KeyVerdict, type Pin } from '../identity/pins.js'

/** What the verifier saw during one connection attempt. */
export interface Presented {
  keyType: string
  fingerprint: string
  accepted: boolean
  revoked: boolean
  /** The matching pin's label, when accepted. */
  pinLabel: string
}

/**
 * ssh2's verifier in callback form. A Promise returned from the verifier counts as acceptance in
 * ssh2 1.17, so this function must stay synchronous and return nothing. It runs again on every
 * rekey, so it must decide the same way each time: it is a pure function of the pins.
 */
export function makeHostVerifier(
  pins: Pin[],
  seen: Presented[],
  gate?: Promise<boolean>
): (key: Buffer, verify: (valid: boolean) => void) => void {
  return (key, verify) => {
    const presented = describeVerdict(judgeHostKey(pins, key))
    seen.push(presented)
    // Saying yes is not the end: ssh2 then checks the server's signature with that key, so a
    // server that merely presents a pinned public key (anyone can copy one) still fails.
    if (!presented.accepted || !gate) {
      verify(presented.accepted)
      return
    }
    // Still the callback form: the promise is kept here, never handed to ssh2.
    void gate.then(verify, () => verify(false))
  }
}

function describeVerdict(verdict: KeyVerdict): Presented {
  return {
    keyType: verdict.keyType,
    fingerprint: verdict.fingerprint,
    accepted: verdict.accepted,
    revoked: !verdict.accepted && verdict.revoked,
    pinLabel: verdict.accepted ? verdict.pin.label : ''
  }
}

/**
 * The order in which to ask the server for its host key types. The server presents one key per
 * connection, chosen by our preference list, so a pin for its RSA key only matches if we ask for
 * RSA. Typed pins let us ask for exactly the right type at once; untyped pins (a bare SHA256)
 * need one try per type the server has, each rejected before any credential is sent.
 */
export function keyTypePlan(pins: Pin[]): string[] {
  const typed = pinnedKeyTypes(pins)
  if (!typed) return [...ALL_HOST_KEY_TYPES]
  const known = ALL_HOST_KEY_TYPES.filter(t => typed.includes(t))
  const extra = typed.filter(t => !known.includes(t))
  return [...known, ...extra]
}

/** The `algorithms.serverHostKey` list for a set of key types, in preference order. */
export function algorithmsFor(keyTypes: string[]): string[] {
  return [...new Set(keyTypes.flatMap(hostKeyAlgorithmsFor))]
}
