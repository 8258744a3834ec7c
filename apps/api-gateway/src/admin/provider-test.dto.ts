import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  ValidateIf,
} from 'class-validator';
import {
  PROBE_MODES,
  PROVIDER_KINDS,
  ROUTING_METHODS,
  type ProbeMode,
  type ProviderKind,
  type RoutingMethod,
} from '@aigw/core';
import { StrictBody } from '../validation/strict-body';

function trimmed({ value }: { value: unknown }): unknown {
  return typeof value === 'string' ? value.trim() : value;
}

/**
 * `POST /api/v1/ai/admin/providers/test`: a provider's settings as a console form holds them before saving.
 * `apiKey` is used for the test only: never stored, echoed or logged (validation messages never carry values).
 */
@StrictBody()
export class TestProviderDto {
  @IsIn(PROVIDER_KINDS)
  kind!: ProviderKind;

  @Transform(trimmed)
  @IsString()
  @Matches(/^https?:\/\/\S+$/i, { message: 'baseUrl must be an http:// or https:// URL' })
  @MaxLength(2048)
  baseUrl!: string;

  @IsOptional()
  @IsString()
  @MaxLength(4096)
  apiKey?: string;

  /**
   * Instead of `apiKey`: a saved gateway whose stored key the test sends, so that a form can test changed settings
   * while keeping the key it never sees (the monitor reads the key; it is never returned).
   */
  @ValidateIf((o: TestProviderDto) => o.apiKeyFromGateway !== undefined)
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  apiKeyFromGateway?: string;

  /**
   * The saved provider these are changed settings of (a form editing it): the settings are read as a PATCH of it
   * would read them, so an `apiKey` of `${VAR}` equal to its stored `apiKeyRef` is accepted even when
   * ADMIN_KEY_VARIABLES does not list VAR, and no `apiKey` (nor `apiKeyFromGateway`) means its stored key, as a PATCH
   * without one keeps it: the monitor reads that key, which is never returned. The test itself is of the settings
   * sent, not of the saved provider.
   */
  @ValidateIf((o: TestProviderDto) => o.providerId !== undefined)
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  providerId?: string;

  /**
   * Instead of `providerId`: the saved gateway these are changed settings of (the console's Gateway screen tests a
   * gateway's settings as an OpenAI provider's), read as a PATCH of that gateway would read them: an `apiKey` of
   * `${VAR}` equal to its stored `apiKeyRef` is accepted even when ADMIN_KEY_VARIABLES does not list VAR. Not
   * `gatewayId`, which names the gateway the provider tested is routed through.
   */
  @ValidateIf((o: TestProviderDto) => o.settingsOfGateway !== undefined)
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  settingsOfGateway?: string;

  @IsOptional()
  @IsIn(ROUTING_METHODS)
  routing: RoutingMethod = 'direct';

  /** Required for `gateway` and `auto`: the id of a saved gateway (the LiteLLM proxy). */
  @ValidateIf((o: TestProviderDto) => o.routing !== 'direct' || o.gatewayId !== undefined)
  @IsString()
  @IsNotEmpty({ message: "gatewayId is required when routing is 'gateway' or 'auto'" })
  @MaxLength(200)
  gatewayId?: string;

  @IsOptional()
  @IsString()
  @Matches(/^\//, { message: "healthPath must be a path starting with '/' (e.g. /health)" })
  @MaxLength(500)
  healthPath?: string;

  @ValidateIf((o: TestProviderDto) => o.kind === 'plugin' || o.plugin !== undefined)
  @IsString()
  @IsNotEmpty({ message: "plugin is required when kind is 'plugin'" })
  @MaxLength(500)
  plugin?: string;

  @IsOptional()
  @IsIn(PROBE_MODES)
  probe?: ProbeMode;

  /** Model names as sent upstream: checked against the gateway's list; the first one for a completion probe. */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(200)
  @IsString({ each: true })
  @MaxLength(200, { each: true })
  models?: string[];
}
