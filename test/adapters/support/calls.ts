import { ProviderCallError, type StreamDelta } from '@aigw/core';

export async function collect(stream: AsyncIterable<StreamDelta>): Promise<StreamDelta[]> {
  const out: StreamDelta[] = [];
  for await (const d of stream) {
    out.push(d);
  }
  return out;
}

/** The ProviderCallError a call fails with; fails the test when it succeeds or fails with anything else. */
export async function failure(p: Promise<unknown>): Promise<ProviderCallError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ProviderCallError) {
      return err;
    }
    throw new Error('expected a ProviderCallError', { cause: err });
  }
  throw new Error('expected the call to fail');
}

export function textOf(deltas: StreamDelta[]): string {
  return deltas.map((d) => d.text).join('');
}
