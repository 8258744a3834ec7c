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
  ValidateNested,
} from 'class-validator';
import { ChatMessageDto } from '../dto/chat-message.dto';
import { IsTemperature, IsTokenCount, IsTopP } from '../validation/generation-options';
import { IsStopSequences } from '../validation/validators';

export class StreamOptionsDto {
  @IsOptional()
  @IsBoolean()
  include_usage?: boolean;
}

/**
 * `POST /v1/chat/completions`, the fields this gateway acts on. Field order is the order problems
 * are reported in. Other OpenAI fields are accepted and ignored.
 */
export class ChatCompletionDto {
  @IsString()
  @IsNotEmpty()
  model: string;

  @IsArray()
  @ArrayNotEmpty()
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
  @IsIn(ROUTING_POLICIES)
  policy?: RoutingPolicy;
}
