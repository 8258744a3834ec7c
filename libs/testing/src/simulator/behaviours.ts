import { Answer, echoAnswer } from './answers';
import { asRecord } from './wire';

/*
 * Deterministic tool use, JSON mode and reasoning, so tests of the gateway can assert exact answers:
 * - tools offered and the conversation ends with a user turn: call the first tool (or the one tool_choice
 *   forces) with arguments derived from the last user text and the tool's parameter schema;
 * - the conversation ends with a tool result: answer in text using it (`Tool result: <result>`);
 * - JSON mode: `{"answer": <last user text>}`, or for a json_schema a value conforming to the (simple) schema;
 * - reasoning asked for (OpenAI-compatible `reasoning_effort`): `Thinking about: <last user text>` as
 *   reasoning_content before the answer.
 */

export interface SimTool {
  name: string;
  parameters: unknown;
}

export interface ToolCallAnswer {
  id: string;
  name: string;
  /** The arguments JSON, split into the pieces a stream sends. */
  pieces: Answer;
}

/** A value conforming to a simple JSON Schema: strings are `text`, numbers its length, booleans true. */
export function valueFor(schema: unknown, text: string, depth = 0): unknown {
  const s = asRecord(schema);
  if (s === null || depth > 16) {
    return text;
  }
  if (Array.isArray(s.enum) && s.enum.length > 0) {
    return s.enum[0];
  }
  if ('const' in s) {
    return s.const;
  }
  const type: unknown = Array.isArray(s.type) ? (s.type as unknown[])[0] : s.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const props = asRecord(s.properties) ?? {};
      for (const [name, child] of Object.entries(props)) {
        out[name] = valueFor(child, text, depth + 1);
      }
      return out;
    }
    case 'array':
      return s.items === undefined ? [] : [valueFor(s.items, text, depth + 1)];
    case 'number':
    case 'integer':
      return text.length;
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return asRecord(s.properties) !== null ? valueFor({ ...s, type: 'object' }, text, depth) : text;
  }
}

/** JSON split into at most four pieces of similar size, as a model streams arguments. */
export function jsonPieces(json: string): Answer {
  const size = Math.max(1, Math.ceil(json.length / 4));
  const pieces: string[] = [];
  for (let i = 0; i < json.length; i += size) {
    pieces.push(json.slice(i, i + size));
  }
  return new Answer(pieces.length > 0 ? pieces : ['{}']);
}

export function toolCallAnswer(id: string, tool: SimTool, text: string): ToolCallAnswer {
  const args = valueFor(asRecord(tool.parameters) ?? { type: 'object' }, text);
  return { id, name: tool.name, pieces: jsonPieces(JSON.stringify(args)) };
}

export function jsonAnswer(schema: unknown, text: string): Answer {
  return echoAnswer(JSON.stringify(schema === null ? { answer: text } : valueFor(schema, text)));
}

export function toolResultAnswer(result: string): Answer {
  return echoAnswer(`Tool result: ${result}`);
}

export function reasoningAnswer(text: string): Answer {
  return echoAnswer(`Thinking about: ${text}`);
}
