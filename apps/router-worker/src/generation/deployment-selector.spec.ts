import type { Deployment } from '@aigw/core';
import { eligibleDeployments } from './deployment-selector';
import { deployment, generationRequest } from './test-fixtures';

describe('eligibleDeployments', () => {
  const chatOnly = deployment({ id: 'a' }, { name: 'm', capabilities: ['chat'] });
  const streaming = deployment({ id: 'b' }, { name: 'm' });
  const disabled = deployment({ id: 'c', enabled: false }, { name: 'other' });
  const disabledModel = deployment({ id: 'd' }, { name: 'other', enabled: false });
  const embeddings = deployment({ id: 'e' }, { name: 'other', capabilities: ['json'] });
  const all = [chatOnly, streaming, disabled, disabledModel, embeddings];
  const serving = (model: string): Deployment[] => all.filter((d) => d.model.name === model && d.provider.enabled);

  it('keeps catalog order for a model, dropping those that cannot stream a stream request', () => {
    expect(eligibleDeployments(generationRequest({ model: 'm' }), all, serving)).toEqual([chatOnly, streaming]);
    expect(eligibleDeployments(generationRequest({ model: 'm', stream: true }), all, serving)).toEqual([streaming]);
  });

  it.each(['auto', 'cheapest', 'fastest', 'best'])(
    'resolves the alias %s to every enabled chat deployment',
    (alias) => {
      expect(eligibleDeployments(generationRequest({ model: alias }), all, serving)).toEqual([chatOnly, streaming]);
    },
  );

  it('finds nothing for an unknown model', () => {
    expect(eligibleDeployments(generationRequest({ model: 'nope' }), all, serving)).toEqual([]);
  });
});
