import { ApiProperty } from '@nestjs/swagger';
import type { Route } from '@aigw/core';

/** One rate-limit window of a provider as its response headers last reported it. */
export class QuotaWindowDto {
  @ApiProperty({
    type: Number,
    nullable: true,
    example: 10000,
    description: 'Size of the window (requests, or tokens); null when the headers did not say.',
  })
  limit!: number | null;

  @ApiProperty({
    type: Number,
    nullable: true,
    example: 9873,
    description: 'What was left when the response arrived (at `observedAt`); null when the headers did not say.',
  })
  remaining!: number | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When the provider said the window would be full again; null when it did not say.',
  })
  resetAt!: string | null;

  @ApiProperty({
    example: false,
    description:
      '`resetAt` has passed: the window has refilled since, so `remaining` understates what is left (it is back to ' +
      '`limit` unless something besides this gateway used the key). The next response through the gateway refreshes it.',
  })
  stale!: boolean;
}

/**
 * A provider's rate limits as the router-workers last read them from its response headers (OpenAI-style
 * `x-ratelimit-*`, Anthropic `anthropic-ratelimit-*`, IETF `RateLimit`; a 429 marks a window spent until its
 * `retry-after`). Null in the list when no response of the provider carried any.
 */
export class ProviderQuotaDto {
  @ApiProperty({ type: QuotaWindowDto, nullable: true, description: 'Requests per window; null when not reported.' })
  requests!: QuotaWindowDto | null;

  @ApiProperty({
    type: QuotaWindowDto,
    nullable: true,
    description: 'Tokens per window (Anthropic: the tighter of its token limits); null when not reported.',
  })
  tokens!: QuotaWindowDto | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    description: 'When the response these figures came from arrived (the list lags it by about a second).',
  })
  observedAt!: string;

  @ApiProperty({
    enum: ['direct', 'gateway'],
    description:
      'The route the figures describe: `gateway` ones are what the LiteLLM-style proxy reported (its own key limits, ' +
      "or the provider's it passed on). For an `auto` provider, the route in use when it was observed, else the other.",
  })
  route!: Route;
}
