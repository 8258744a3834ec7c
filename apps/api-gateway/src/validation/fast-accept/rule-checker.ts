import { getMetadataStorage, ValidationTypes, type MetadataStorage, type ValidationArguments } from 'class-validator';
import { MAX_DEPTH } from './json-copy';

type ValidationMetadata = ReturnType<MetadataStorage['getTargetValidationMetadatas']>[number];
type Condition = (object: object, value: unknown) => boolean;

/** One validator of a property (class-validator's built-in ones are registered the same way as custom ones). */
interface Check {
  readonly validate: (value: unknown, args: ValidationArguments) => unknown;
  readonly constraints: unknown[];
  readonly each: boolean;
  readonly validateIf?: Condition;
}

interface PropertyRules {
  readonly name: string;
  /** @IsOptional / @ValidateIf: the property is checked only when all of them hold. */
  readonly conditions: Condition[];
  readonly checks: Check[];
  /** @ValidateNested: objects are checked by their own class's rules, arrays item by item. */
  nested: boolean;
}

interface RuleSet {
  readonly targetName: string;
  readonly properties: PropertyRules[];
}

function isPromise(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** A validator's answer as class-validator reads it; a promise is left to class-validator. */
function passed(result: unknown): boolean {
  return Boolean(result) && !isPromise(result);
}

function rulesFor(properties: Map<string, PropertyRules>, name: string): PropertyRules {
  let rules = properties.get(name);
  if (rules === undefined) {
    rules = { name, conditions: [], checks: [], nested: false };
    properties.set(name, rules);
  }
  return rules;
}

/** Adds one metadata's rules; false for a kind this file does not reproduce (async validators, promises). */
function addRule(storage: MetadataStorage, rules: PropertyRules, meta: ValidationMetadata): boolean {
  switch (meta.type) {
    case ValidationTypes.CONDITIONAL_VALIDATION:
      rules.conditions.push(meta.constraints[0] as Condition);
      return true;
    case ValidationTypes.NESTED_VALIDATION:
      rules.nested = true;
      return true;
    case ValidationTypes.WHITELIST: // only read with `whitelist`, which the pipe leaves off
      return true;
    case ValidationTypes.CUSTOM_VALIDATION:
    case ValidationTypes.IS_DEFINED:
      for (const constraint of storage.getTargetValidatorConstraints(meta.constraintCls)) {
        if (constraint.async) {
          return false;
        }
        const instance = constraint.instance;
        rules.checks.push({
          validate: (value, args) => instance.validate(value, args),
          constraints: meta.constraints as unknown[],
          each: meta.each,
          validateIf: meta.validateIf,
        });
      }
      return true;
    default:
      return false;
  }
}

/** The class's rules as class-validator applies them with the pipe's options (no groups, no skipping), or null. */
function compileRules(ctor: { name: string }): RuleSet | null {
  const storage = getMetadataStorage();
  const properties = new Map<string, PropertyRules>();
  for (const meta of storage.getTargetValidationMetadatas(ctor as () => void, '', false, false)) {
    if (!addRule(storage, rulesFor(properties, meta.propertyName), meta)) {
      return null;
    }
  }
  return { targetName: ctor.name, properties: [...properties.values()] };
}

/**
 * Whether class-validator (0.15, `forbidUnknownValues: false`, no whitelist, no groups) finds no error in an
 * instance the InstanceBuilder made. The same validator functions run, with the same arguments; what is left
 * out is the per-call work: finding the metadata, building error objects, the promise. false means "not sure
 * it is valid": the usual path then decides, and words the error.
 */
export class RuleChecker {
  private readonly rules = new Map<unknown, RuleSet | null>();

  valid(object: object, depth = 0): boolean {
    const rules = this.rulesOf(object.constructor);
    if (rules === null || depth > MAX_DEPTH) {
      return false;
    }
    const record = object as Record<string, unknown>;
    for (const property of rules.properties) {
      const value = record[property.name];
      if (!this.propertyValid(rules, property, object, value, depth)) {
        return false;
      }
    }
    return true;
  }

  private propertyValid(rules: RuleSet, p: PropertyRules, object: object, value: unknown, depth: number): boolean {
    // class-validator calls every condition, then checks when all hold.
    let applies = true;
    for (const condition of p.conditions) {
      applies = condition(object, value) && applies;
    }
    if (!applies) {
      return true;
    }
    for (const check of p.checks) {
      if (!this.checkPasses(rules, p, check, object, value)) {
        return false;
      }
    }
    return !p.nested || value === undefined || this.nestedValid(value, depth + 1);
  }

  private checkPasses(rules: RuleSet, p: PropertyRules, check: Check, object: object, value: unknown): boolean {
    if (check.validateIf !== undefined && !check.validateIf(object, value)) {
      return true;
    }
    const args: ValidationArguments = {
      targetName: rules.targetName,
      property: p.name,
      object,
      value,
      constraints: check.constraints,
    };
    if (!check.each || !Array.isArray(value)) {
      return passed(check.validate(value, args));
    }
    return value.every((item) => passed(check.validate(item, args)));
  }

  /** class-validator's nested validation: arrays item by item (gaps pass), objects by their class, others fail. */
  private nestedValid(value: unknown, depth: number): boolean {
    if (depth > MAX_DEPTH) {
      return false;
    }
    if (Array.isArray(value)) {
      return value.every((item) => item === undefined || this.nestedValid(item, depth + 1));
    }
    return value instanceof Object && this.valid(value, depth);
  }

  private rulesOf(ctor: unknown): RuleSet | null {
    let rules = this.rules.get(ctor);
    if (rules === undefined) {
      rules = typeof ctor === 'function' ? compileRules(ctor) : null;
      this.rules.set(ctor, rules);
    }
    return rules;
  }
}
