import type { ContentPart, Role } from '@aigw/core';
import { Type } from 'class-transformer';
import { IsArray, IsIn, IsNotEmpty, IsOptional, IsString, ValidateIf, ValidateNested } from 'class-validator';
import { IsMessageContent } from '../validation/validators';
import { ToolCallDto } from './tool.dto';

/** `developer` is OpenAI's newer name for `system` (its SDKs send it to reasoning models); it maps to `system`. */
export type MessageRole = Role | 'developer';
export const MESSAGE_ROLES: readonly MessageRole[] = ['system', 'developer', 'user', 'assistant', 'tool'];

/** One chat message, shared by the OpenAI and native APIs. */
export class ChatMessageDto {
  @IsIn(MESSAGE_ROLES)
  role: MessageRole;

  @IsMessageContent()
  content: string | ContentPart[] | null;

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
  @ValidateNested({ each: true })
  @Type(() => ToolCallDto)
  tool_calls?: ToolCallDto[];

  @IsOptional()
  @IsString()
  refusal?: string | null;
}
