import { applyDecorators } from '@nestjs/common';
import { IsInt, IsNumber, Max, Min } from 'class-validator';

/*
 * The limits of the generation options, shared by the OpenAI-shaped and the native request bodies
 * (their field names differ: `top_p` / `topP`, `max_tokens` / `maxTokens`); one place so they cannot drift.
 */

const FINITE = { allowNaN: false, allowInfinity: false };

/** Sampling temperature: 0..2, as OpenAI accepts. */
export function IsTemperature(): PropertyDecorator {
  return applyDecorators(IsNumber(FINITE), Min(0), Max(2));
}

/** Nucleus sampling mass: 0..1. */
export function IsTopP(): PropertyDecorator {
  return applyDecorators(IsNumber(FINITE), Min(0), Max(1));
}

/** A token budget: a whole number of at least 1. */
export function IsTokenCount(): PropertyDecorator {
  return applyDecorators(IsInt(), Min(1));
}
