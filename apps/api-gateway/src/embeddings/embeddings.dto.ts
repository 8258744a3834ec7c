import { ROUTING_POLICIES, type RoutingPolicy } from '@aigw/core';
import { IsBoolean, IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Min, registerDecorator } from 'class-validator';
import type { ValidationArguments, ValidationOptions } from 'class-validator';

/** OpenAI's limit on the items of one embeddings request. */
export const MAX_EMBEDDING_INPUTS = 2048;

export type EmbeddingInputBody = string | string[] | number[] | number[][];

function isTokenArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.length > 0 && v.every((t) => Number.isInteger(t) && (t as number) >= 0);
}

/** What is wrong with `input`, or null. Empty strings and empty lists are refused, as OpenAI does. */
export function embeddingInputProblem(v: unknown): string | null {
  if (typeof v === 'string') {
    return v === '' ? 'must not be an empty string' : null;
  }
  if (!Array.isArray(v)) {
    return 'must be a string, an array of strings, an array of token ids or an array of token-id arrays';
  }
  if (v.length === 0) {
    // A client embedding an empty document list (a loader that found nothing) is told what is wrong with it.
    return 'must not be an empty array';
  }
  if (v.length > MAX_EMBEDDING_INPUTS) {
    return `must have at most ${MAX_EMBEDDING_INPUTS} items`;
  }
  if (typeof v[0] === 'number') {
    return isTokenArray(v) ? null : 'must be an array of non-negative integer token ids';
  }
  for (let i = 0; i < v.length; i++) {
    const item: unknown = v[i];
    if (typeof item === 'string' ? item === '' : !isTokenArray(item)) {
      return `[${i}] must be a non-empty string or a non-empty array of token ids (all items of one kind)`;
    }
    if (typeof item !== typeof v[0]) {
      return `[${i}] is not of the same kind as input[0] (strings and token arrays cannot be mixed)`;
    }
  }
  return null;
}

function IsEmbeddingInput(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    const problems = new WeakMap<object, string>();
    registerDecorator({
      name: 'isEmbeddingInput',
      target: target.constructor,
      propertyName: String(propertyName),
      options,
      validator: {
        validate(value: unknown, args: ValidationArguments): boolean {
          const problem = embeddingInputProblem(value);
          if (problem !== null) {
            problems.set(args.object, problem);
          }
          return problem === null;
        },
        defaultMessage(args: ValidationArguments): string {
          const problem = problems.get(args.object) ?? 'is invalid';
          return `${args.property}${problem.startsWith('[') ? '' : ' '}${problem}`;
        },
      },
    });
  };
}

/** `POST /v1/embeddings`, OpenAI's wire format. */
export class EmbeddingsDto {
  @IsString()
  @IsNotEmpty()
  model: string;

  @IsEmbeddingInput()
  input: EmbeddingInputBody;

  @IsOptional()
  @IsIn(['float', 'base64'])
  encoding_format?: 'float' | 'base64';

  @IsOptional()
  @IsInt()
  @Min(1)
  dimensions?: number;

  @IsOptional()
  @IsString()
  user?: string;

  @IsOptional()
  @IsIn(ROUTING_POLICIES)
  policy?: RoutingPolicy;

  @IsOptional()
  @IsBoolean()
  allowFallback?: boolean;
}

/** The top-level fields this gateway models (the DTO's); everything else in a body is passed through. */
export const EMBEDDINGS_FIELDS: ReadonlySet<string> = new Set([
  'model',
  'input',
  'encoding_format',
  'dimensions',
  'user',
  'policy',
  'allowFallback',
]);
