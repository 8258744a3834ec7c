import { PROVIDER_KINDS } from './catalog';
import { ASSISTANT_PREFILL_PARAM, familySupportsParam, PROVIDER_FAMILIES } from './provider-families';
import { embedsWith, requestNeedsOf } from './routing/request-needs';

describe('provider families', () => {
  it('declare embeddings exactly where routing sends embeddings', () => {
    for (const kind of PROVIDER_KINDS) {
      expect([kind, PROVIDER_FAMILIES[kind].capabilities.includes('embeddings')]).toEqual([kind, embedsWith(kind)]);
    }
  });

  it('let the OpenAI-compatible family take every field, plugins none', () => {
    expect(familySupportsParam('openai', 'logit_bias')).toBe(true);
    expect(familySupportsParam('openai', 'some_passthrough')).toBe(true);
    expect(familySupportsParam('plugin', 'seed')).toBe(false);
  });

  it('keep a /v1/messages prefill on the families that continue a final assistant message', () => {
    const needs = (assistantPrefill?: true) =>
      requestNeedsOf({
        messages: [
          { role: 'user', content: 'Name a colour' },
          { role: 'assistant', content: 'The colour is' },
        ],
        options: assistantPrefill === undefined ? {} : { assistantPrefill },
      }).params;
    expect(needs(true)).toEqual([ASSISTANT_PREFILL_PARAM]);
    // The same messages from /v1/chat/completions: OpenAI's wire format, every family takes them as they are.
    expect(needs()).toEqual([]);
    const continuing = PROVIDER_KINDS.filter((k) => familySupportsParam(k, ASSISTANT_PREFILL_PARAM));
    // The OpenAI-compatible family takes every other field, not this one: OpenAI's models answer anew.
    expect(continuing).toEqual(['anthropic', 'ollama']);
  });

  it('keep forced tool choices away from families that cannot force a call', () => {
    const needs = requestNeedsOf({
      messages: [{ role: 'user', content: 'hi' }],
      options: {
        tools: [{ type: 'function', function: { name: 'f' } }],
        toolChoice: { type: 'function', function: { name: 'f' } },
      },
    });
    expect(needs.params).toContain('tool_choice');
    expect(['openai', 'anthropic', 'gemini'].every((k) => familySupportsParam(k as 'openai', 'tool_choice'))).toBe(
      true,
    );
    expect(familySupportsParam('ollama', 'tool_choice')).toBe(false);
    expect(familySupportsParam('tgi', 'tool_choice')).toBe(false);
    const auto = requestNeedsOf({ messages: [], options: { toolChoice: 'auto' } });
    expect(auto.params).not.toContain('tool_choice');
  });

  it('name every provider-dependent option a request sets, by its OpenAI name, and none it leaves out', () => {
    const needs = requestNeedsOf({
      messages: [],
      options: {
        parallelToolCalls: false,
        seed: 1,
        presencePenalty: 0,
        frequencyPenalty: 0,
        logitBias: { '1': 1 },
        logprobs: true,
        topLogprobs: 2,
        user: 'u',
        reasoningEffort: 'low',
        metadata: { a: 'b' },
        extra: { top_k: 3 },
      },
    });
    expect(needs.params.sort()).toEqual(
      [
        'frequency_penalty',
        'logit_bias',
        'logprobs',
        'parallel_tool_calls',
        'presence_penalty',
        'reasoning_effort',
        'seed',
        'top_k',
        'top_logprobs',
      ].sort(),
    );
    expect(requestNeedsOf({ messages: [], options: { temperature: 0.2 } })).toEqual({ capabilities: [], params: [] });
    // The end user's id changes no answer: every family serves a request that names one (Claude Code always does).
    expect(requestNeedsOf({ messages: [], options: { user: 'u' } })).toEqual({ capabilities: [], params: [] });
    // Nor do OpenAI's stored-completion tags (`metadata`).
    expect(requestNeedsOf({ messages: [], options: { metadata: { a: 'b' } } })).toEqual({
      capabilities: [],
      params: [],
    });
  });

  it('route JSON mode and sampling fields to the native families that translate them', () => {
    for (const kind of ['gemini', 'ollama', 'tgi'] as const) {
      expect(familySupportsParam(kind, 'response_format')).toBe(true);
      expect(familySupportsParam(kind, 'seed')).toBe(true);
      expect(familySupportsParam(kind, 'logit_bias')).toBe(false);
    }
    expect(familySupportsParam('gemini', 'input_audio')).toBe(true);
    expect(familySupportsParam('ollama', 'input_audio')).toBe(false);
  });

  it('route file parts (PDFs) to the families that read them: Claude as document blocks, Gemini as inlineData', () => {
    expect(familySupportsParam('anthropic', 'file')).toBe(true);
    expect(familySupportsParam('gemini', 'file')).toBe(true);
    expect(familySupportsParam('ollama', 'file')).toBe(false);
    expect(familySupportsParam('anthropic', 'input_audio')).toBe(false);
  });
});
