import type { ContentPart, Role } from '@aigw/core';
import { Type } from 'class-transformer';
import { IsArray, IsIn, IsNotEmpty, IsOptional, IsString, ValidateIf, ValidateNested } from 'class-validator';
import { IsMessageContent, IsObjectList } from '../validation/validators';
import { ToolCallDto } from './tool.dto';

/** `developer` is OpenAI's newer name for `system` (its SDKs send it to reasoning models); it maps to `system`. */
export type MessageRole = Role | 'developer';
export const MESSAGE_ROLES: readonly MessageRole[] = ['system', 'developer', 'user', 'assistant', 'tool'];

/** A signed thinking block of an earlier answer (`thinking_blocks`, LiteLLM's name), sent back unchanged. */
export class ThinkingBlockDto {
  @IsIn(['thinking', 'redacted_thinking'])
  type: 'thinking' | 'redacted_thinking';

  @ValidateIf((b: ThinkingBlockDto) => b.type === 'thinking')
  @IsString()
  thinking?: string;

  @ValidateIf((b: ThinkingBlockDto) => b.type === 'thinking')
  @IsString()
  signature?: string;

  @ValidateIf((b: ThinkingBlockDto) => b.type === 'redacted_thinking')
  @IsString()
  data?: string;
}

/** A part of an assistant message's content saying the model declined (OpenAI's `ChatCompletionContentPartRefusal`). */
export interface RefusalPartBody {
  type: 'refusal';
  refusal: string;
}

/** One chat message, shared by the OpenAI and native APIs. */
export class ChatMessageDto {
  @IsIn(MESSAGE_ROLES)
  role: MessageRole;

  @IsMessageContent()
  content: string | (ContentPart | RefusalPartBody)[] | null;

  @IsOptional()
  @IsString()
  name?: string;

  // A tool result must say which call it answers (that it matches one is checked across messages).
  @ValidateIf((m: ChatMessageDto) => m.role === 'tool' || (m.tool_call_id !== undefined && m.tool_call_id !== null))
  @IsString({ message: 'tool messages need tool_call_id, the id of the assistant tool call they answer' })
  @IsNotEmpty()
  tool_call_id?: string;

  @IsOptional()
  @IsArray()
  @IsObjectList()
  @ValidateNested({ each: true })
  @Type(() => ToolCallDto)
  tool_calls?: ToolCallDto[];

  @IsOptional()
  @IsString()
  refusal?: string | null;

  /** On an assistant message: the answer's signed thinking, which Anthropic needs back before its tool results. */
  @IsOptional()
  @IsArray()
  @IsObjectList()
  @ValidateNested({ each: true })
  @Type(() => ThinkingBlockDto)
  thinking_blocks?: ThinkingBlockDto[];
}
