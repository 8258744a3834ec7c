import { ROUTING_POLICIES, type RoutingPolicy } from '@aigw/core';
import { Type } from 'class-transformer';
import {
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsIn,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  ValidateNested,
} from 'class-validator';
import { ChatMessageDto } from '../dto/chat-message.dto';
import { CONTEXT_PATTERN, CONTEXT_RULE } from '../preferences/preference.dto';
import { IsTemperature, IsTokenCount, IsTopP } from '../validation/generation-options';
import { KnownFieldsOnly } from '../validation/known-fields';
import { IsObjectList, IsStopSequences } from '../validation/validators';

/** Unknown fields are a 400: `max_tokens` for `maxTokens` would otherwise be ignored and the whole answer billed. */
@KnownFieldsOnly()
export class GenerateOptionsDto {
  @IsOptional()
  @IsTemperature()
  temperature?: number;

  @IsOptional()
  @IsTokenCount()
  maxTokens?: number;

  @IsOptional()
  @IsTopP()
  topP?: number;

  @IsOptional()
  @IsStopSequences()
  stop?: string | string[];
}

/**
 * `POST /api/v1/ai/generate` and `POST /api/v1/ai/jobs`: exactly one of `prompt` and `messages`. Unknown fields
 * are a 400 naming them (the `messages` themselves are OpenAI's, as lenient as on /v1/chat/completions).
 */
@KnownFieldsOnly()
export class GenerateDto {
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  prompt?: string;

  @IsOptional()
  @IsArray()
  @ArrayNotEmpty()
  @IsObjectList()
  @ValidateNested({ each: true })
  @Type(() => ChatMessageDto)
  messages?: ChatMessageDto[];

  @IsOptional()
  @IsString()
  systemPrompt?: string;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  model?: string;

  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => GenerateOptionsDto)
  options?: GenerateOptionsDto;

  /** Preference context, e.g. "coding": the user's model preference for it applies. */
  @IsOptional()
  @IsString()
  @Matches(CONTEXT_PATTERN, { message: `context must be ${CONTEXT_RULE}` })
  context?: string;

  @IsOptional()
  @IsIn(ROUTING_POLICIES)
  policy?: RoutingPolicy;

  /** With a pinned `provider/model`: may other deployments answer when it fails? */
  @IsOptional()
  @IsBoolean()
  allowFallback?: boolean;

  /** false: neither answered from nor stored in the response cache (as `x-gateway-cache: no-store`). */
  @IsOptional()
  @IsBoolean()
  useCache?: boolean;
}
