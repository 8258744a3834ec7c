import { TransformationType, type TypeMetadata } from 'class-transformer';
import { defaultMetadataStorage as transformerMetadata } from 'class-transformer/cjs/storage';
import { getMetadataStorage } from 'class-validator';
import { isKnownFieldsOnly } from '../known-fields';
import { copyJson, isPlainArray, isPlainObject, mapItems, MAX_DEPTH, REFUSE } from './json-copy';

/** A DTO class as the pipe gets it (`metadata.metatype`). */
export type DtoClass = new () => object;

/** Types class-transformer converts to rather than builds, and Nest's pipe does not validate: never a DTO here. */
const NOT_DTOS: ReadonlySet<unknown> = new Set([
  String,
  Number,
  Boolean,
  Date,
  Buffer,
  Object,
  Array,
  Map,
  Set,
  Promise,
]);
/** Array types of a typed field that class-transformer turns into a plain array (it instantiates the type). */
const PLAIN_ARRAY_TYPES: ReadonlySet<unknown> = new Set([undefined, Array, Object]);

/** How class-transformer (0.5, default options, no @Expose/@Exclude/@Transform) fills an instance of one class. */
interface Shape {
  readonly ctor: DtoClass;
  /** Keys it skips or Nest's pipe strips (the prototype chain's names, function-valued fields): REFUSE. */
  readonly reserved: ReadonlySet<string>;
  /** The declared fields with @Type; the other declared fields are copied as plain JSON. */
  readonly typed: ReadonlyMap<string, TypeMetadata>;
  readonly declared: ReadonlySet<string>;
  /** `@KnownFieldsOnly()`: an undeclared key is REFUSEd, the usual path names it. */
  readonly closed: boolean;
}

function prototypeNames(ctor: DtoClass): Set<string> {
  const names = new Set(['__proto__', 'constructor', 'prototype']);
  for (let p: object | null = ctor.prototype as object; p !== null; p = Object.getPrototypeOf(p) as object | null) {
    Object.getOwnPropertyNames(p).forEach((n) => names.add(n));
  }
  return names;
}

/** The class's shape, or null when class-transformer would do more with it than this file reproduces. */
function compileShape(ctor: DtoClass): Shape | null {
  if (NOT_DTOS.has(ctor) || transformerMetadata.getStrategy(ctor) !== 'none') {
    return null;
  }
  if (
    transformerMetadata.getExposedMetadatas(ctor).length > 0 ||
    transformerMetadata.getExcludedMetadatas(ctor).length
  ) {
    return null;
  }
  let probe: Record<string, unknown>;
  try {
    probe = new ctor() as Record<string, unknown>;
  } catch {
    return null;
  }
  const reserved = prototypeNames(ctor);
  const validated = getMetadataStorage()
    .getTargetValidationMetadatas(ctor, '', false, false)
    .map((m) => m.propertyName);
  const typed = new Map<string, TypeMetadata>();
  const declared = new Set<string>();
  for (const field of new Set([...Object.keys(probe), ...validated])) {
    if (typeof probe[field] === 'function') {
      reserved.add(field);
    }
    if (transformerMetadata.findTransformMetadatas(ctor, field, TransformationType.PLAIN_TO_CLASS).length > 0) {
      return null;
    }
    const type = transformerMetadata.findTypeMetadata(ctor, field);
    if (type === undefined) {
      declared.add(field);
    } else if (type.options?.discriminator !== undefined || type.reflectedType === Map || type.reflectedType === Set) {
      return null;
    } else {
      typed.set(field, type);
    }
  }
  return { ctor, reserved, typed, declared, closed: isKnownFieldsOnly(ctor) };
}

/**
 * `plainToInstance(cls, body)` as Nest's ValidationPipe calls it, for JSON bodies: a new instance per object of a
 * @Type class (so its field initialisers run first), every body key copied in the body's order, untyped values
 * copied as plain JSON. Returns REFUSE where the result could differ.
 */
export class InstanceBuilder {
  private readonly shapes = new Map<unknown, Shape | null>();

  build(ctor: unknown, plain: Record<string, unknown>, depth = 0): object | typeof REFUSE {
    const shape = this.shapeOf(ctor);
    if (shape === null || depth > MAX_DEPTH) {
      return REFUSE;
    }
    const instance = new shape.ctor() as Record<string, unknown>;
    for (const key of Object.keys(plain)) {
      const value = this.field(shape, key, instance, plain, depth);
      if (value === REFUSE) {
        return REFUSE;
      }
      instance[key] = value;
    }
    return instance;
  }

  private field(shape: Shape, key: string, instance: object, plain: Record<string, unknown>, depth: number): unknown {
    if (shape.reserved.has(key)) {
      return REFUSE;
    }
    const value = plain[key];
    const type = shape.typed.get(key);
    if (type !== undefined) {
      const target: unknown = type.typeFunction
        ? type.typeFunction({ newObject: instance, object: plain, property: key })
        : type.reflectedType;
      // Not a DTO (a conversion such as @Type(() => Number)), or an array into something other than an array.
      if (this.shapeOf(target) === null || (isPlainArray(value) && !PLAIN_ARRAY_TYPES.has(type.reflectedType))) {
        return REFUSE;
      }
      return this.typed(value, target, depth + 1);
    }
    if (!shape.declared.has(key) && (shape.closed || this.hasMetadata(shape.ctor, key))) {
      return REFUSE;
    }
    return copyJson(value, depth + 1);
  }

  /** An undeclared body key could only carry metadata on a class compiled without class fields; be sure. */
  private hasMetadata(ctor: DtoClass, key: string): boolean {
    return (
      transformerMetadata.findTypeMetadata(ctor, key) !== undefined ||
      transformerMetadata.findTransformMetadatas(ctor, key, TransformationType.PLAIN_TO_CLASS).length > 0
    );
  }

  /** A value of a @Type field: objects become instances of `target`, arrays are mapped, primitives kept. */
  private typed(value: unknown, target: unknown, depth: number): unknown {
    if (depth > MAX_DEPTH) {
      return REFUSE;
    }
    if (isPlainArray(value)) {
      return mapItems(value, (v) => this.typed(v, target, depth + 1));
    }
    if (isPlainObject(value)) {
      return this.build(target, value, depth);
    }
    const kind = typeof value;
    return value === null || kind === 'string' || kind === 'number' || kind === 'boolean' ? value : REFUSE;
  }

  private shapeOf(ctor: unknown): Shape | null {
    let shape = this.shapes.get(ctor);
    if (shape === undefined) {
      shape = typeof ctor === 'function' ? compileShape(ctor as DtoClass) : null;
      this.shapes.set(ctor, shape);
    }
    return shape;
  }
}
