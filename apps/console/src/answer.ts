/** What a playground answer's headers tell of it without asking the API again. */

/**
 * The cost of an answer that made no provider call of its own: 0, as its usage row says. A cache hit and a
 * coalesced follower (`x-gateway-coalesced: true`, ADR 0007) have no job to ask, and a stale answer's job is the
 * failed one it stood in for. Undefined when the answer's job has its cost.
 */
export function costWithoutJob(cache: string | undefined, coalesced: boolean | undefined): number | undefined {
  return cache === 'hit' || cache === 'stale' || coalesced === true ? 0 : undefined;
}
