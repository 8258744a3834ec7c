import { createHash, randomUUID } from 'node:crypto';

export function newRequestId(): string {
  return `req_${randomUUID().replace(/-/g, '')}`;
}

export function sha256Hex(input: string): string {
  return createHash('sha256').update(input).digest('hex');
}
