import {
  REASONING_EFFORTS,
  ROUTING_POLICIES,
  type ReasoningEffort,
  type ResponseFormat,
  type RoutingPolicy,
  type ToolChoice,
} from '@aigw/core';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
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
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { ChatMessageDto } from '../dto/chat-message.dto';
import { ToolDto } from '../dto/tool.dto';
import { IsTemperature, IsTokenCount, IsTopP } from '../validation/generation-options';
import {
  type AllowedToolsChoice,
  IsLogitBias,
  IsResponseFormat,
  IsStringMap,
  IsToolChoice,
} from '../validation/openai-fields';
import { IsObjectList, IsStopSequences } from '../validation/validators';

/** OpenAI accepts at most 128 tools per request. */
export const MAX_TOOLS = 128;
const FINITE = { allowNaN: false, allowInfinity: false };

export class StreamOptionsDto {
  @IsOptional()
  @IsBoolean()
  include_usage?: boolean;
}

/**
 * `POST /v1/chat/completions`. Field order is the order problems are reported in. Fields not declared here
 * are not dropped: they are forwarded to OpenAI-compatible providers as they came (see `extraFieldsOf`), and
 * keep a request away from provider families that cannot take them.
 */
export class ChatCompletionDto {
  @IsString()
  @IsNotEmpty()
  model: string;

  @IsArray()
  @ArrayNotEmpty()
  @IsObjectList()
  @ValidateNested({ each: true })
  @Type(() => ChatMessageDto)
  messages: ChatMessageDto[];

  @IsOptional()
  @IsBoolean()
  stream?: boolean;

  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => StreamOptionsDto)
  stream_options?: StreamOptionsDto;

  @IsOptional()
  @IsTemperature()
  temperature?: number;

  @IsOptional()
  @IsTopP()
  top_p?: number;

  @IsOptional()
  @IsTokenCount()
  max_tokens?: number;

  @IsOptional()
  @IsTokenCount()
  max_completion_tokens?: number;

  @IsOptional()
  @IsStopSequences()
  stop?: string | string[];

  @IsOptional()
  @IsIn([1], { message: 'n must be 1: this gateway returns a single choice' })
  n?: number;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_TOOLS)
  @IsObjectList()
  @ValidateNested({ each: true })
  @Type(() => ToolDto)
  tools?: ToolDto[];

  @IsOptional()
  @IsToolChoice()
  tool_choice?: ToolChoice | AllowedToolsChoice;

  @IsOptional()
  @IsBoolean()
  parallel_tool_calls?: boolean;

  @IsOptional()
  @IsResponseFormat()
  response_format?: ResponseFormat;

  @IsOptional()
  @IsInt()
  seed?: number;

  /** Not in OpenAI's API, but what vLLM and most compatible servers take: every provider family samples with it. */
  @IsOptional()
  @IsInt()
  @Min(0)
  top_k?: number;

  @IsOptional()
  @IsNumber(FINITE)
  @Min(-2)
  @Max(2)
  presence_penalty?: number;

  @IsOptional()
  @IsNumber(FINITE)
  @Min(-2)
  @Max(2)
  frequency_penalty?: number;

  @IsOptional()
  @IsLogitBias()
  logit_bias?: Record<string, number>;

  @IsOptional()
  @IsBoolean()
  logprobs?: boolean;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(20)
  top_logprobs?: number;

  @IsOptional()
  @IsString()
  user?: string;

  @IsOptional()
  @IsIn(REASONING_EFFORTS)
  reasoning_effort?: ReasoningEffort;

  @IsOptional()
  @IsStringMap()
  metadata?: Record<string, string>;

  @IsOptional()
  @IsIn(ROUTING_POLICIES)
  policy?: RoutingPolicy;

  @IsOptional()
  @IsBoolean()
  allowFallback?: boolean;
}

/** The top-level fields this gateway models (the DTO's); everything else in a body is passed through. */
export const CHAT_COMPLETION_FIELDS: ReadonlySet<string> = new Set([
  'model',
  'messages',
  'stream',
  'stream_options',
  'temperature',
  'top_p',
  'max_tokens',
  'max_completion_tokens',
  'stop',
  'n',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'response_format',
  'seed',
  'top_k',
  'presence_penalty',
  'frequency_penalty',
  'logit_bias',
  'logprobs',
  'top_logprobs',
  'user',
  'reasoning_effort',
  'metadata',
  'policy',
  'allowFallback',
]);
