import type { Writable } from 'node:stream';

/** What a socket handed to the OS from the moment `socketWrites` was called: one entry per write, its bytes. */
export interface SocketWrites {
  readonly writes: string[];
}

/**
 * Records every write a socket hands to the OS from now on (one per `_write` or `_writev`, i.e. one per system call
 * when nothing is pending), with the bytes it carried: how commands are batched into writes, seen from outside.
 */
export function socketWrites(socket: Writable): SocketWrites {
  const seen: SocketWrites = { writes: [] };
  const write = socket._write.bind(socket);
  socket._write = (chunk: Buffer | string, encoding, done) => {
    seen.writes.push(String(chunk));
    write(chunk, encoding, done);
  };
  const writev = socket._writev?.bind(socket);
  if (writev !== undefined) {
    socket._writev = (chunks, done) => {
      seen.writes.push(chunks.map((c) => String(c.chunk)).join(''));
      writev(chunks, done);
    };
  }
  return seen;
}
