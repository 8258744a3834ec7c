import { ErrorClass, ProviderCallError } from '@aigw/core';

/** A model list body, the same shape in both wire formats: `{"data": [{"id": ...}, ...]}`. */
export function readModelList(json: unknown, status: number): string[] {
  const data = (json as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: model list has no data array`, {
      status,
    });
  }
  const ids: string[] = [];
  for (const m of data) {
    const id = (m as { id?: unknown } | null)?.id;
    if (typeof id === 'string') {
      ids.push(id);
    }
  }
  return ids;
}
