import type { ContentPart, Role } from '@aigw/core';
import { IsIn, IsOptional, IsString } from 'class-validator';
import { IsMessageContent } from '../validation/validators';

export const MESSAGE_ROLES: readonly Role[] = ['system', 'user', 'assistant', 'tool'];

/** One chat message, shared by the OpenAI and native APIs. */
export class ChatMessageDto {
  @IsIn(MESSAGE_ROLES)
  role: Role;

  @IsMessageContent()
  content: string | ContentPart[] | null;

  @IsOptional()
  @IsString()
  name?: string;

  @IsOptional()
  @IsString()
  tool_call_id?: string;
}
