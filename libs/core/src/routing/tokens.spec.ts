import { getEncoding } from 'js-tiktoken';
import type { ChatMessage } from '../domain';
import {
  TOKENIZE_BUDGET,
  countTextTokens,
  estimateCompletionTokens,
  estimatePromptTokens,
  estimateRequestTokens,
  requiredContextTokens,
} from './tokens';
import { IMAGE_TOKENS_HIGH_DETAIL, IMAGE_TOKENS_LOW_DETAIL } from './image-tokens';
import { PDF_BYTES_PER_PAGE, PDF_TOKENS_PER_PAGE, estimateMediaTokens } from './media-tokens';

const reference = getEncoding('cl100k_base');
const exact = (text: string): number => reference.encode(text, [], []).length;

function prose(paragraphs: number): string {
  const sentences = [
    'The gateway routes each request to the provider that best fits the policy. ',
    'Circuit breakers keep sick providers out of rotation until probes succeed again. ',
    'function add(a, b) {\n  return a + b;\n}\n',
    'Latency is tracked as an exponentially weighted moving average per deployment. ',
    'Quotas reserve spend before the call and settle it afterwards, 1234 tokens at $0.002. ',
  ];
  let out = '';
  for (let i = 0; i < paragraphs; i++) {
    out += sentences[i % sentences.length] + sentences[(i * 7 + 3) % sentences.length] + '\n\n';
  }
  return out;
}

describe('countTextTokens', () => {
  it('matches known cl100k counts', () => {
    expect(countTextTokens('')).toBe(0);
    expect(countTextTokens('hello world')).toBe(2);
    // The example from OpenAI's "How to count tokens with tiktoken" cookbook.
    expect(countTextTokens('tiktoken is great!')).toBe(6);
  });

  it('treats special-token strings in user text as plain text instead of throwing', () => {
    const n = countTextTokens('before <|endoftext|> after');
    expect(n).toBe(exact('before <|endoftext|> after'));
    expect(n).toBeGreaterThan(3);
  });

  it('counts long unbroken runs in slices close to the exact count', () => {
    let b64 = '';
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    for (let i = 0; i < 4000; i++) {
      b64 += alphabet[(i * 7919 + 13) % 64];
    }
    const cjk = '我能吞下玻璃而不伤身体。'.repeat(200);
    for (const text of [b64, cjk, `see https://example.com/${'a1b2c3'.repeat(40)}/end`]) {
      const want = exact(text);
      const got = countTextTokens(text);
      expect(Math.abs(got - want) / want).toBeLessThan(0.05);
    }
    // Whitespace: at most one extra token per 64-character slice.
    const indent = ' '.repeat(500) + 'x';
    expect(Math.abs(countTextTokens(indent) - exact(indent))).toBeLessThanOrEqual(Math.ceil(500 / 64));
  });

  it('samples texts over the exact limit and stays within a few percent', () => {
    const text = prose(3000);
    expect(text.length).toBeGreaterThan(TOKENIZE_BUDGET * 10);
    const want = exact(text);
    const got = countTextTokens(text);
    expect(Math.abs(got - want) / want).toBeLessThan(0.05);
  });

  it('samples non-Latin scripts early (they tokenize ~50x slower) within ~10%', () => {
    // cl100k itself is off by more than that for most non-OpenAI models on these scripts.
    const russian = [
      'Шлюз искусственного интеллекта находится между приложениями и поставщиками моделей. ',
      'Он выбирает поставщика для каждого запроса по стоимости, задержке и качеству. ',
      'Повторные попытки выполняются с экспоненциальной задержкой и случайным разбросом. ',
      'Кэш хранит ответы 24 часа. ',
    ];
    const chinese = [
      '人工智能网关是一个位于应用程序和多个大型语言模型提供商之间的服务。',
      '它根据成本、延迟和质量等策略为每个请求选择合适的提供商。',
      '在提供商出现故障时自动重试和切换，并记录使用情况和成本。',
      '缓存保存24小时。',
    ];
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (const sentences of [russian, chinese]) {
      for (const length of [1_000, 20_000, 200_000]) {
        let text = '';
        while (text.length < length) {
          text += sentences[Math.floor(random() * sentences.length)];
        }
        const want = exact(text);
        const got = countTextTokens(text);
        expect(Math.abs(got - want) / want).toBeLessThan(0.12);
      }
    }
  });
});

describe('estimatePromptTokens', () => {
  it("follows OpenAI's chat accounting", () => {
    // OpenAI's API reference example ("Say this is a test!") reports prompt_tokens = 13.
    expect(estimatePromptTokens([{ role: 'user', content: 'Say this is a test!' }])).toBe(13);
    expect(estimatePromptTokens([])).toBe(3);
    expect(estimatePromptTokens([{ role: 'assistant', content: null }])).toBe(3 + 4);
  });

  it('adds every message, names and tool call ids', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'hello world', name: 'alice' },
      { role: 'tool', content: '42', tool_call_id: 'call_abc' },
    ];
    const want =
      3 + 3 * 4 + exact('You are terse.') + exact('hello world') + exact('alice') + 1 + exact('42') + exact('call_abc');
    expect(estimatePromptTokens(messages)).toBe(want);
  });

  it('counts text parts and prices images by detail', () => {
    const messages: ChatMessage[] = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in these images?' },
          { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } },
          { type: 'image_url', image_url: { url: 'https://example.com/b.png' } },
        ],
      },
    ];
    expect(estimatePromptTokens(messages)).toBe(
      3 + 4 + exact('What is in these images?') + IMAGE_TOKENS_LOW_DETAIL + IMAGE_TOKENS_HIGH_DETAIL,
    );
  });

  it('estimates long conversations by sampling across all messages', () => {
    const messages: ChatMessage[] = [];
    for (let i = 0; i < 40; i++) {
      messages.push({ role: i % 2 === 0 ? 'user' : 'assistant', content: prose(30 + i) });
    }
    const want = 3 + 40 * 4 + messages.reduce((n, m) => n + exact(m.content as string), 0);
    const got = estimatePromptTokens(messages);
    expect(Math.abs(got - want) / want).toBeLessThan(0.05);
  });
});

describe('estimateRequestTokens', () => {
  const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object' } } }];

  it('adds tool definitions to the prompt', () => {
    const messages: ChatMessage[] = [{ role: 'user', content: 'Weather in Paris?' }];
    expect(estimateRequestTokens(messages, undefined)).toBe(estimatePromptTokens(messages));
    expect(estimateRequestTokens(messages, tools)).toBe(
      estimatePromptTokens(messages) + countTextTokens(JSON.stringify(tools)),
    );
  });

  it('adds audio and file parts by their size (estimateMediaTokens): routing, count_tokens and admission agree', () => {
    const pdf = Buffer.alloc(10 * PDF_BYTES_PER_PAGE, 0x55).toString('base64');
    const messages: ChatMessage[] = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Summarize this.' },
          { type: 'file', file: { file_data: `data:application/pdf;base64,${pdf}` } },
        ],
      },
    ];
    expect(estimateMediaTokens(messages)).toBe(10 * PDF_TOKENS_PER_PAGE);
    expect(estimateRequestTokens(messages, tools)).toBe(
      estimatePromptTokens(messages) + countTextTokens(JSON.stringify(tools)) + 10 * PDF_TOKENS_PER_PAGE,
    );
  });
});

describe('completion and context estimates', () => {
  it('uses max_tokens when given, else the configured average', () => {
    expect(estimateCompletionTokens(256, 500)).toBe(256);
    expect(estimateCompletionTokens(undefined, 500)).toBe(500);
  });

  it('reserves the completion budget in the context requirement', () => {
    expect(requiredContextTokens(1000, 4000)).toBe(5000);
    expect(requiredContextTokens(1000, undefined)).toBe(1000);
  });
});
