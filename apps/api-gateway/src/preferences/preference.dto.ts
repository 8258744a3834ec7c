import { IsNotEmpty, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { StrictBody } from '../validation/strict-body';

/**
 * A routing context (`coding`, `support-chat`, `Coding.v1`): what a native request names in `context` and what a
 * preference is stored for ('' (left out) is the user's default). One rule for both, so every context a request
 * can name can have a preference.
 */
export const CONTEXT_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
export const CONTEXT_RULE = '1 to 64 letters, digits, _ . : or -';

/**
 * A preference's context as `PUT` takes it: a context, or `''` for the default, as the list shows the default (a
 * client writing back what it read sends it), which leaving `context` out also sets.
 */
const PREFERENCE_CONTEXT_PATTERN = /^[A-Za-z0-9_.:-]{0,64}$/;

/** `PUT /api/v1/ai/preferences`. */
@StrictBody()
export class PutPreferenceDto {
  @IsOptional()
  @IsString({ message: 'context must be a string' })
  @Matches(PREFERENCE_CONTEXT_PATTERN, { message: `context must be '' (the default) or ${CONTEXT_RULE}` })
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
