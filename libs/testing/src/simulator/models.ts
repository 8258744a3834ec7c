// A fixed timestamp keeps the listing byte-for-byte stable across runs.
const CREATED = 1_735_689_600;
const CREATED_AT = new Date(CREATED * 1000).toISOString();

/**
 * GET /v1/models body readable by both OpenAI clients (`object`, `data[].id/object/owned_by`)
 * and Anthropic clients (`data[].type/display_name/created_at`, `has_more`, `first_id`, `last_id`).
 */
export function modelsBody(models: readonly string[]): string {
  return JSON.stringify({
    object: 'list',
    data: models.map((id) => ({
      id,
      object: 'model',
      created: CREATED,
      owned_by: 'provider-simulator',
      type: 'model',
      display_name: `${id} (simulated)`,
      created_at: CREATED_AT,
    })),
    has_more: false,
    first_id: models[0] ?? null,
    last_id: models[models.length - 1] ?? null,
  });
}
