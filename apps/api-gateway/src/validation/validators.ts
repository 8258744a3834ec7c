import { MAX_OPENAI_STOP_SEQUENCES } from '@aigw/core';
import { registerDecorator, type ValidationArguments, type ValidationOptions } from 'class-validator';
import { JSONSchema } from 'class-validator-jsonschema';
import { INSTANT_PATTERN, INSTANT_RULE, instantOf } from '../http/instant';

/** OpenAI's limit on `stop`, which `/v1/chat/completions` checks as OpenAI does. */
export const MAX_STOP_SEQUENCES = MAX_OPENAI_STOP_SEQUENCES;

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const IMAGE_DETAILS: readonly unknown[] = [undefined, 'auto', 'low', 'high'];
const AUDIO_FORMATS: readonly unknown[] = ['wav', 'mp3'];

/**
 * A content part this gateway can forward, in OpenAI's shapes: `text`, `image_url` ({url, detail?}),
 * `input_audio` ({data, format}) and `file` ({file_id | file_data, filename?}).
 */
export function isContentPart(part: unknown): boolean {
  if (!isRecord(part)) {
    return false;
  }
  switch (part.type) {
    case 'text':
      return typeof part.text === 'string';
    case 'image_url': {
      const image = part.image_url;
      return (
        isRecord(image) && typeof image.url === 'string' && image.url.length > 0 && IMAGE_DETAILS.includes(image.detail)
      );
    }
    case 'input_audio': {
      const audio = part.input_audio;
      return isRecord(audio) && typeof audio.data === 'string' && AUDIO_FORMATS.includes(audio.format);
    }
    case 'file': {
      const file = part.file;
      return (
        isRecord(file) &&
        (typeof file.file_id === 'string' || typeof file.file_data === 'string') &&
        (file.filename === undefined || typeof file.filename === 'string')
      );
    }
    default:
      return false;
  }
}

/**
 * A refusal part (`{type: "refusal", refusal}`), which OpenAI's API takes in an assistant message's content: an answer
 * the model declined, sent back in history as clients keep it. Only assistant messages hold one.
 */
export function isRefusalPart(part: unknown): part is { type: 'refusal'; refusal: string } {
  return isRecord(part) && part.type === 'refusal' && typeof part.refusal === 'string';
}

/**
 * Message content: a string, a non-empty array of content parts (on an assistant message also refusal parts), or null
 * on an assistant message (one that only carried tool calls).
 */
export function IsMessageContent(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isMessageContent',
      target: target.constructor,
      propertyName: String(propertyName),
      options,
      validator: {
        validate(value: unknown, args: ValidationArguments): boolean {
          if (typeof value === 'string') {
            return true;
          }
          const assistant = (args.object as { role?: unknown }).role === 'assistant';
          if (value === null || value === undefined) {
            // An assistant turn may consist of tool calls (or a refusal) only.
            return assistant;
          }
          return (
            Array.isArray(value) &&
            value.length > 0 &&
            value.every((part) => isContentPart(part) || (assistant && isRefusalPart(part)))
          );
        },
        defaultMessage(args: ValidationArguments): string {
          return `${args.property} must be a string or a non-empty array of content parts (text, image_url with detail auto/low/high, input_audio wav/mp3, file; refusal on assistant messages); null only on assistant messages`;
        },
      },
    });
}

/**
 * Every item of a list of objects (messages, tools, tool calls, ...) is a JSON object. `@ValidateNested({ each: true })`
 * alone lets a list through as an item: class-validator walks into it item by item, so `[[]]` and `[[{...}]]` passed
 * and reached code reading the item's fields. Not `@IsObject({ each: true })`: its JSON Schema would replace the
 * items' `$ref` in the OpenAPI document. One pass over the list; only lists get here (`@IsArray` words the rest).
 */
export function IsObjectList(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isObjectList',
      target: target.constructor,
      propertyName: String(propertyName),
      options,
      validator: {
        validate(value: unknown): boolean {
          return !Array.isArray(value) || value.every(isRecord);
        },
        defaultMessage(args: ValidationArguments): string {
          const list = Array.isArray(args.value) ? (args.value as unknown[]) : [];
          const at = list.findIndex((item) => !isRecord(item));
          const item = list[at];
          const kind = Array.isArray(item) ? 'a list' : item === null ? 'null' : typeof item;
          return `${args.property}[${at}] must be an object, not ${kind}`;
        },
      },
    });
}

/** `stop`: a string or an array of at most four strings. */
export function IsStopSequences(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isStopSequences',
      target: target.constructor,
      propertyName: String(propertyName),
      options,
      validator: {
        validate(value: unknown): boolean {
          if (typeof value === 'string') {
            return true;
          }
          return (
            Array.isArray(value) && value.length <= MAX_STOP_SEQUENCES && value.every((s) => typeof s === 'string')
          );
        },
        defaultMessage(args: ValidationArguments): string {
          return `${args.property} must be a string or an array of at most ${MAX_STOP_SEQUENCES} strings`;
        },
      },
    });
}

/**
 * A range bound of a query (`from`, `to`): INSTANT_RULE, the rule `rangeOf` reads it by. Not `@IsISO8601`: it let
 * through forms `new Date()` cannot read (`2026-W49-1`, `20261205`), and a date-time without a zone was then read in
 * the host's time zone.
 */
export function IsInstant(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    JSONSchema({ type: 'string', pattern: INSTANT_PATTERN, description: INSTANT_RULE })(target, String(propertyName));
    registerDecorator({
      name: 'isInstant',
      target: target.constructor,
      propertyName: String(propertyName),
      options,
      validator: {
        validate(value: unknown): boolean {
          return typeof value === 'string' && instantOf(value) !== null;
        },
        defaultMessage(args: ValidationArguments): string {
          return `${args.property} must be ${INSTANT_RULE}`;
        },
      },
    });
  };
}
