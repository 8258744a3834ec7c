/**
 * Puts numbered chunks back in order. Pub/sub on one connection keeps order, so a gap means a lost
 * message (typically across a reconnect): later chunks are held, never emitted out of order, and the
 * final answer decides what is missing.
 */
export class ChunkSequencer<T> {
  private next = 0;
  private readonly held = new Map<number, T>();

  /** Emits `item` and any held successors once `seq` is the next expected one; drops duplicates. */
  accept(seq: number, item: T, emit: (item: T) => void): void {
    if (seq < this.next || this.held.has(seq)) {
      return;
    }
    if (seq !== this.next) {
      this.held.set(seq, item);
      return;
    }
    emit(item);
    this.next++;
    while (this.held.size > 0) {
      const following = this.held.get(this.next);
      if (following === undefined) {
        return;
      }
      this.held.delete(this.next);
      emit(following);
      this.next++;
    }
  }

  /** How many chunks were emitted: the seq expected next. */
  get emitted(): number {
    return this.next;
  }

  /** Chunks are held behind a missing one. */
  get hasGap(): boolean {
    return this.held.size > 0;
  }
}
