import type { JsonObject } from '@aigw/core';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsNotEmptyObject, IsOptional, IsString, Matches, ValidateNested } from 'class-validator';
import { FUNCTION_NAME, IsToolParameters, TOOL_CALL_ID } from '../validation/openai-fields';

const NAME_RULE = { message: '$property must be 1-64 letters, digits, _ or -' };

export class FunctionDefinitionDto {
  @IsString()
  @Matches(FUNCTION_NAME, NAME_RULE)
  name: string;

  @IsOptional()
  @IsString()
  description?: string;

  @IsOptional()
  @IsToolParameters()
  parameters?: JsonObject;

  @IsOptional()
  @IsBoolean()
  strict?: boolean;
}

/** A function tool offered to the model (`tools[]`). */
export class ToolDto {
  @IsIn(['function'])
  type: 'function';

  @IsNotEmptyObject()
  @ValidateNested()
  @Type(() => FunctionDefinitionDto)
  function: FunctionDefinitionDto;
}

export class ToolCallFunctionDto {
  @IsString()
  @Matches(FUNCTION_NAME, NAME_RULE)
  name: string;

  /** JSON text as the model produced it; not parsed here (models do write invalid JSON, and it is history). */
  @IsString()
  arguments: string;
}

/** A call an assistant message made (`messages[].tool_calls[]`). */
export class ToolCallDto {
  @IsString()
  @Matches(TOOL_CALL_ID, { message: '$property must be a non-empty id without spaces' })
  id: string;

  @IsIn(['function'])
  type: 'function';

  @IsNotEmptyObject()
  @ValidateNested()
  @Type(() => ToolCallFunctionDto)
  function: ToolCallFunctionDto;
}
