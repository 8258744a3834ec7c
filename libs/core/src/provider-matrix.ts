import type { Capability, ProviderKind } from './catalog';
import { PROVIDER_FAMILIES } from './provider-families';

/** One row of the compatibility matrix: a provider as the docs name it, the wire format it is reached with. */
interface MatrixRow {
  provider: string;
  kind: ProviderKind;
  /** How the catalog reaches it directly (`kind`, and the base URL when it says something). */
  direct: string;
  /** Whether the LiteLLM gateway route (`routing: gateway|auto`) makes sense for it. */
  gateway: boolean;
}

const ROWS: readonly MatrixRow[] = [
  { provider: 'OpenAI', kind: 'openai', direct: '`openai`', gateway: true },
  { provider: 'Anthropic', kind: 'anthropic', direct: '`anthropic`', gateway: true },
  { provider: 'DeepSeek', kind: 'openai', direct: '`openai`, `https://api.deepseek.com`', gateway: true },
  { provider: 'Z.ai (GLM)', kind: 'openai', direct: '`openai`, `https://api.z.ai/api/coding/paas/v4`', gateway: true },
  {
    provider: 'HuggingFace Inference Providers',
    kind: 'openai',
    direct: '`openai`, `https://router.huggingface.co/v1`',
    gateway: true,
  },
  { provider: 'HuggingFace TGI (native)', kind: 'tgi', direct: '`tgi`, the server origin', gateway: false },
  { provider: 'Google Gemini (native)', kind: 'gemini', direct: '`gemini`, `.../v1beta`', gateway: true },
  { provider: 'Ollama (native)', kind: 'ollama', direct: '`ollama`, the server origin', gateway: false },
  { provider: 'Ollama (`/v1`)', kind: 'openai', direct: '`openai`, `http://host:11434/v1`', gateway: false },
  {
    provider: 'vLLM',
    kind: 'openai',
    direct: '`openai`, `http://host:8000/v1`, `healthPath: /health`',
    gateway: false,
  },
  {
    provider: 'llama.cpp server',
    kind: 'openai',
    direct: '`openai`, `http://host:8080/v1`, `healthPath: /health`',
    gateway: false,
  },
  { provider: 'Any plugin', kind: 'plugin', direct: '`plugin` + `plugin: <module>`', gateway: false },
];

const COLUMNS: readonly [string, Capability][] = [
  ['chat', 'chat'],
  ['stream', 'streaming'],
  ['tools', 'tools'],
  ['vision', 'vision'],
  ['json', 'json'],
  ['embeddings', 'embeddings'],
];

/**
 * The provider × capability × route table of docs/providers.md, generated from PROVIDER_FAMILIES (what each adapter
 * declares it honours). A deployment still needs its capabilities listed in the catalog; this is the most it may list.
 */
export function renderProviderMatrix(): string {
  const head = `| provider | ${COLUMNS.map(([name]) => name).join(' | ')} | direct | gateway |`;
  const rule = `|---|${COLUMNS.map(() => ':-:').join('|')}|---|:-:|`;
  const lines = ROWS.map((r) => {
    const caps = PROVIDER_FAMILIES[r.kind].capabilities;
    const cells = COLUMNS.map(([, c]) => (caps.includes(c) ? '✓' : '–'));
    return `| ${r.provider} | ${cells.join(' | ')} | ${r.direct} | ${r.gateway ? '✓' : '–'} |`;
  });
  return [head, rule, ...lines].join('\n');
}
