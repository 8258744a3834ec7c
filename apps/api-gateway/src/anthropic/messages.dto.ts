import { ROUTING_POLICIES, type JsonObject, type RoutingPolicy } from '@aigw/core';
import { Type } from 'class-transformer';
import {
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  registerDecorator,
  ValidateNested,
  type ValidationArguments,
} from 'class-validator';
import { IsTopP } from '../validation/generation-options';
import { FUNCTION_NAME, IsToolParameters } from '../validation/openai-fields';
import { IsObjectList } from '../validation/validators';

/*
 * `POST /v1/messages` in Anthropic's wire format. The DTOs check the shape of each field; content blocks, the
 * system prompt and tool_choice are checked block by block in `assertMessagesRules`, which names the exact path
 * (`messages[1].content[0].source.media_type`).
 */

const FINITE = { allowNaN: false, allowInfinity: false };

export class AnthropicMessageDto {
  @IsIn(['user', 'assistant'])
  role: 'user' | 'assistant';

  /** A string or a list of content blocks (checked by `assertMessagesRules`). */
  @IsContentShape()
  content: string | AnthropicBlock[];
}

/** Tools are offered to every provider: names follow OpenAI's (stricter) rule so any deployment can take them. */
export class AnthropicToolDto {
  /**
   * Server tools (web search, code execution, ...) run at Anthropic; only client tools can be routed anywhere. First,
   * as problems are reported in field order: a server tool has no input_schema, and its type is what is wrong with it.
   */
  @IsOptional()
  @IsIn(['custom'], { message: "type must be 'custom': Anthropic server tools cannot be routed through the gateway" })
  type?: 'custom';

  @IsString()
  @Matches(FUNCTION_NAME, { message: '$property must be 1-64 letters, digits, _ or -' })
  name: string;

  @IsOptional()
  @IsString()
  description?: string;

  @IsToolParameters()
  input_schema: JsonObject;

  /** A prompt-cache breakpoint (checked when the request is translated); Claude deployments get it. */
  @IsOptional()
  cache_control?: unknown;
}

/** `adaptive`: the model decides how much to think (no `budget_tokens`; Claude Opus 4.6 and later). */
export class ThinkingDto {
  @IsIn(['enabled', 'disabled', 'adaptive'])
  type: 'enabled' | 'disabled' | 'adaptive';

  @IsOptional()
  @IsInt()
  @Min(1024)
  budget_tokens?: number;

  /** Whether Claude returns its thinking summarized or leaves it out (Claude's default differs by model). */
  @IsOptional()
  @IsIn(['summarized', 'omitted'])
  display?: 'summarized' | 'omitted';
}

export class MessagesMetadataDto {
  @IsOptional()
  @IsString()
  user_id?: string | null;
}

/**
 * What a Messages request gives the model: the whole body of `POST /v1/messages/count_tokens`, and the part of
 * `POST /v1/messages` that `MessagesDto` adds the token limit, sampling and routing fields to.
 */
export class MessagesInputDto {
  @IsString()
  @IsNotEmpty()
  model: string;

  @IsArray()
  @ArrayNotEmpty()
  @IsObjectList()
  @ValidateNested({ each: true })
  @Type(() => AnthropicMessageDto)
  messages: AnthropicMessageDto[];

  /** A string or a list of text blocks (checked by `assertMessagesRules`). */
  @IsOptional()
  system?: string | AnthropicBlock[];

  @IsOptional()
  @IsArray()
  @IsObjectList()
  @ValidateNested({ each: true })
  @Type(() => AnthropicToolDto)
  tools?: AnthropicToolDto[];

  /** `{type: auto | any | tool | none, name?, disable_parallel_tool_use?}` (checked by `assertMessagesRules`). */
  @IsOptional()
  @IsObject()
  tool_choice?: AnthropicToolChoice;

  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => ThinkingDto)
  thinking?: ThinkingDto;
}

export class MessagesDto extends MessagesInputDto {
  /** Required, as Anthropic requires it. */
  @IsInt({ message: 'max_tokens is required and must be an integer' })
  @Min(1)
  max_tokens: number;

  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  stop_sequences?: string[];

  @IsOptional()
  @IsBoolean()
  stream?: boolean;

  /** Anthropic's range, 0..1. */
  @IsOptional()
  @IsNumber(FINITE)
  @Min(0)
  @Max(1)
  temperature?: number;

  @IsOptional()
  @IsTopP()
  top_p?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  top_k?: number;

  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => MessagesMetadataDto)
  metadata?: MessagesMetadataDto;

  /**
   * Anthropic's capacity tier: sent to Claude as it is. `auto` (the default) every family serves; `standard_only` only
   * Claude can be told, so it keeps the request to Claude deployments (see STANDARD_TIER_PARAM).
   */
  @IsOptional()
  @IsIn(['auto', 'standard_only'])
  service_tier?: 'auto' | 'standard_only';

  @IsOptional()
  @IsIn(ROUTING_POLICIES)
  policy?: RoutingPolicy;

  @IsOptional()
  @IsBoolean()
  allowFallback?: boolean;
}

/** The top-level fields this endpoint understands; any other is refused (400 naming it), never dropped. */
export const MESSAGES_FIELDS: ReadonlySet<string> = new Set([
  'model',
  'max_tokens',
  'messages',
  'system',
  'stop_sequences',
  'stream',
  'temperature',
  'top_p',
  'top_k',
  'tools',
  'tool_choice',
  'metadata',
  'thinking',
  'service_tier',
  'policy',
  'allowFallback',
]);

/** Content blocks as they arrive (plain JSON, checked by `assertMessagesRules`). */
export type AnthropicBlock = { type: string; [key: string]: unknown };

export interface AnthropicToolChoice {
  type: 'auto' | 'any' | 'tool' | 'none';
  name?: string;
  disable_parallel_tool_use?: boolean;
}

/** Message content: a string or a non-empty list (its blocks are checked by `assertMessagesRules`). */
function IsContentShape(): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isAnthropicContent',
      target: target.constructor,
      propertyName: String(propertyName),
      validator: {
        validate(value: unknown): boolean {
          return typeof value === 'string' || (Array.isArray(value) && value.length > 0);
        },
        defaultMessage(args: ValidationArguments): string {
          return `${args.property} must be a string or a non-empty array of content blocks`;
        },
      },
    });
}
