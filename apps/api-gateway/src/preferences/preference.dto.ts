import { IsNotEmpty, IsOptional, IsString, Matches, MaxLength } from 'class-validator';

/** A preference context: a short slug (`coding`, `support-chat`); '' (left out) is the user's default. */
export const CONTEXT_PATTERN = /^[a-z0-9_-]{1,64}$/;
export const CONTEXT_RULE = '1 to 64 lowercase letters, digits, _ or -';

/** `PUT /api/v1/ai/preferences`. */
export class PutPreferenceDto {
  @IsOptional()
  @IsString({ message: 'context must be a string' })
  @Matches(CONTEXT_PATTERN, { message: `context must be ${CONTEXT_RULE}` })
  context?: string;

  @IsString({ message: 'provider must be a string' })
  @IsNotEmpty({ message: 'provider must not be empty' })
  @MaxLength(200, { message: 'provider must be at most 200 characters' })
  provider!: string;

  @IsString({ message: 'model must be a string' })
  @IsNotEmpty({ message: 'model must not be empty' })
  @MaxLength(500, { message: 'model must be at most 500 characters' })
  model!: string;
}
