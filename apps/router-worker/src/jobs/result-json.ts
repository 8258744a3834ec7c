import type { GenerateOutcome, GenerationResult } from '@aigw/core';

/**
 * A job's result, serialised at most once. A sync job's result goes out twice: in its final reply (`PUBLISH`) and in
 * its kept outcome (`SET`), ~700 bytes of JSON each time. Each of the two texts is built from the message's own
 * fields, serialised as before, with the result's JSON put in the result's place: the same text, key for key, as
 * `JSON.stringify` of the whole message. Passed by hand rather than cached on the result (a WeakMap keyed by it cost
 * more in the garbage collector than it saved).
 */
export class ResultJson {
  private text: string | undefined;

  constructor(readonly result: GenerationResult) {}

  get json(): string {
    return (this.text ??= JSON.stringify(this.result));
  }
}

/** `JSON.stringify({ t, jobId, result, chunks })` (`chunks` left out when undefined), the result's JSON made once. */
export function finalReplyJson(t: 'result' | 'end', jobId: string, result: ResultJson, chunks?: number): string {
  const head = `{"t":"${t}","jobId":${JSON.stringify(jobId)},"result":${result.json}`;
  return chunks === undefined ? `${head}}` : `${head},"chunks":${chunks}}`;
}

/**
 * `JSON.stringify(Object.assign({}, outcome, rest))` for a kept outcome, the result's JSON taken from `result` when it
 * is this outcome's result. `rest` has at least one field that is not undefined (its text is `{"…}`).
 */
export function keptOutcomeJson(outcome: GenerateOutcome, rest: object, result: ResultJson | undefined): string {
  if (!outcome.ok || result === undefined || result.result !== outcome.result) {
    return JSON.stringify(Object.assign({}, outcome, rest));
  }
  return `{"ok":true,"result":${result.json},${JSON.stringify(rest).slice(1)}`;
}
