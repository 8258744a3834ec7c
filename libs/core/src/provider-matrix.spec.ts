import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderProviderMatrix } from './provider-matrix';

const BEGIN = '<!-- provider-matrix:begin (generated from PROVIDER_FAMILIES; see provider-matrix.ts) -->';
const END = '<!-- provider-matrix:end -->';

describe('docs/providers.md', () => {
  it('holds the matrix the adapters declare (regenerate with renderProviderMatrix when a family changes)', () => {
    const doc = readFileSync(join(__dirname, '../../../docs/providers.md'), 'utf8');
    const start = doc.indexOf(BEGIN);
    const end = doc.indexOf(END);
    expect(start).toBeGreaterThan(-1);
    expect(end).toBeGreaterThan(start);
    expect(doc.slice(start + BEGIN.length, end).trim()).toBe(renderProviderMatrix());
  });

  it('marks what a family cannot do', () => {
    const tgi = renderProviderMatrix()
      .split('\n')
      .find((l) => l.startsWith('| HuggingFace TGI'));
    expect(tgi).toBe('| HuggingFace TGI (native) | ✓ | ✓ | – | – | ✓ | – | `tgi`, the server origin | – |');
  });
});
