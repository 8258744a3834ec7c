import type { Capability, Deployment, ModelSpec, ProviderSpec } from '../catalog';
import { ErrorCode } from '../errors';
import { filterCandidates, selectionError, type CandidateNeed } from '../routing/candidates';
import { allowedModelEntryProblem, mayUseDeployment, mayUseModelRef } from './model-access';

function deployment(providerId: string, modelName: string, model: Partial<ModelSpec> = {}, enabled = true): Deployment {
  const m: ModelSpec = {
    name: modelName,
    contextWindow: 8_000,
    capabilities: ['chat', 'streaming'] as Capability[],
    enabled: true,
    promptPer1k: 1,
    completionPer1k: 1,
    ...model,
  };
  const p: ProviderSpec = {
    id: providerId,
    kind: 'openai',
    baseUrl: 'http://127.0.0.1:1',
    enabled,
    timeoutMs: 30_000,
    maxConnections: 10,
    routing: 'direct',
    models: [m],
  };
  return { id: `${providerId}/${modelName}`, provider: p, model: m };
}

const catalog: Deployment[] = [
  deployment('openai', 'gpt-4o'),
  deployment('azure', 'gpt-4o'),
  deployment('openai', 'gpt-4o-mini'),
  deployment('hf', 'meta-llama/Llama-3-8B'),
  deployment('anthropic', 'claude'),
  deployment('old', 'claude', {}, false),
];
const ids = (ds: readonly Deployment[]): string[] => ds.map((d) => d.id);
const need = (model: string, allowedModels: string[] | null, extra: Partial<CandidateNeed> = {}): CandidateNeed => ({
  model,
  stream: false,
  estimatedTokens: 10,
  allowedModels,
  ...extra,
});

describe('mayUseDeployment', () => {
  const [openai4o, azure4o, mini, llama] = catalog;

  it('allows everything without an allow-list', () => {
    expect(mayUseDeployment(null, openai4o)).toBe(true);
    expect(mayUseDeployment(undefined, llama)).toBe(true);
  });

  it('matches a model name at any provider', () => {
    expect(mayUseDeployment(['gpt-4o'], openai4o)).toBe(true);
    expect(mayUseDeployment(['gpt-4o'], azure4o)).toBe(true);
    expect(mayUseDeployment(['gpt-4o'], mini)).toBe(false);
  });

  it('matches a deployment id, model names with slashes included', () => {
    expect(mayUseDeployment(['azure/gpt-4o'], azure4o)).toBe(true);
    expect(mayUseDeployment(['azure/gpt-4o'], openai4o)).toBe(false);
    expect(mayUseDeployment(['hf/meta-llama/Llama-3-8B'], llama)).toBe(true);
    expect(mayUseDeployment(['meta-llama/Llama-3-8B'], llama)).toBe(true);
  });

  it('matches provider/* to every model of that provider only', () => {
    expect(mayUseDeployment(['openai/*'], openai4o)).toBe(true);
    expect(mayUseDeployment(['openai/*'], mini)).toBe(true);
    expect(mayUseDeployment(['openai/*'], azure4o)).toBe(false);
  });

  it('allows nothing with an empty list', () => {
    expect(mayUseDeployment([], openai4o)).toBe(false);
  });
});

describe('mayUseModelRef', () => {
  it('is true when an enabled deployment the ref names is allowed', () => {
    expect(mayUseModelRef(['azure/gpt-4o'], 'gpt-4o', catalog)).toBe(true);
    expect(mayUseModelRef(['azure/gpt-4o'], 'openai/gpt-4o', catalog)).toBe(false);
    expect(mayUseModelRef(['openai/*'], 'gpt-4o-mini', catalog)).toBe(true);
    expect(mayUseModelRef(['gpt-4o'], 'claude', catalog)).toBe(false);
  });

  it('ranges an alias over every enabled deployment', () => {
    expect(mayUseModelRef(['claude'], 'cheapest', catalog)).toBe(true);
    expect(mayUseModelRef(['old/*'], 'auto', catalog)).toBe(false);
    expect(mayUseModelRef(null, 'nothing-like-it', catalog)).toBe(true);
  });
});

describe('filterCandidates with an allow-list', () => {
  it.each(['auto', 'cheapest', 'fastest', 'best'])('alias %s ranges only over allowed deployments', (alias) => {
    const sel = filterCandidates(catalog, need(alias, ['gpt-4o-mini', 'anthropic/*']), () => false);
    expect(ids(sel.candidates)).toEqual(['openai/gpt-4o-mini', 'anthropic/claude']);
    expect(sel.excluded).toContainEqual({ deploymentId: 'openai/gpt-4o', reason: 'not_allowed' });
    expect(sel.failure).toBeNull();
  });

  it('keeps only the allowed deployments of a model name', () => {
    const sel = filterCandidates(catalog, need('gpt-4o', ['azure/gpt-4o']), () => false);
    expect(ids(sel.candidates)).toEqual(['azure/gpt-4o']);
  });

  it('answers 403 model_not_allowed when nothing allowed is left, aliases included', () => {
    for (const model of ['claude', 'openai/gpt-4o', 'auto']) {
      const sel = filterCandidates(catalog, need(model, ['nothing-here']), () => false);
      expect(sel.candidates).toEqual([]);
      expect(sel.failure?.code).toBe(ErrorCode.ModelNotAllowed);
      const err = selectionError(sel.failure!);
      expect(err.status).toBe(403);
      expect(err.param).toBe('model');
    }
  });

  it('still says model_not_found for a model that is only disabled, allowed or not', () => {
    const sel = filterCandidates(catalog, need('old/claude', ['gpt-4o']), () => false);
    expect(sel.failure?.code).toBe(ErrorCode.ModelNotFound);
  });

  it('reports the later reason when an allowed deployment failed a later check', () => {
    const sel = filterCandidates(catalog, need('gpt-4o', ['azure/gpt-4o']), (id) => id === 'azure/gpt-4o');
    expect(sel.failure?.code).toBe(ErrorCode.NoHealthyProvider);
  });
});

describe('allowedModelEntryProblem', () => {
  it.each(['gpt-4o', 'openai/gpt-4o', 'openai/*', 'hf/meta-llama/Llama-3-8B'])('accepts %s', (entry) => {
    expect(allowedModelEntryProblem(entry)).toBeNull();
  });

  it.each(['', ' gpt', '*', '/*', 'open*/x', 'openai/*/x'])('rejects %j', (entry) => {
    expect(allowedModelEntryProblem(entry)).not.toBeNull();
  });
});
