import { ChunkSequencer } from './chunk-sequencer';

function run(seqs: number[]): { out: number[]; gap: boolean } {
  const s = new ChunkSequencer<number>();
  const out: number[] = [];
  for (const n of seqs) {
    s.accept(n, n, (v) => out.push(v));
  }
  return { out, gap: s.hasGap };
}

describe('ChunkSequencer', () => {
  it('passes in-order chunks straight through', () => {
    expect(run([0, 1, 2])).toEqual({ out: [0, 1, 2], gap: false });
  });

  it('holds chunks behind a gap and releases them in order once it is filled', () => {
    expect(run([0, 2, 3])).toEqual({ out: [0], gap: true });
    expect(run([0, 2, 3, 1, 4])).toEqual({ out: [0, 1, 2, 3, 4], gap: false });
  });

  it('drops duplicates and stale chunks', () => {
    expect(run([0, 1, 1, 0, 3, 3, 2])).toEqual({ out: [0, 1, 2, 3], gap: false });
  });

  it('never emits anything before chunk 0', () => {
    expect(run([1, 2])).toEqual({ out: [], gap: true });
  });
});
