import { getEncoding } from 'js-tiktoken';
import { BytePairEncoder, type RankFile } from './bpe';

// The reference: js-tiktoken as tokens.ts used it before (special-token strings are plain text).
const reference = getEncoding('cl100k_base');
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the same rank file tokens.ts loads
const encoder = new BytePairEncoder(require('js-tiktoken/ranks/cl100k_base') as RankFile);

interface Mismatch {
  text: string;
  want: number[];
  got: number[];
  count: number;
}

/** Inputs whose tokens or count differ from js-tiktoken's (the first few, to keep failures readable). */
function mismatches(texts: readonly string[]): Mismatch[] {
  const out: Mismatch[] = [];
  for (const text of texts) {
    const want = reference.encode(text, [], []);
    const got = encoder.encode(text);
    const count = encoder.count(text);
    if (count !== want.length || got.length !== want.length || got.some((rank, i) => rank !== want[i])) {
      out.push({ text, want, got, count });
      if (out.length === 5) {
        break;
      }
    }
  }
  return out;
}

const CORPUS = [
  '',
  'hello world',
  'tiktoken is great!',
  'The quick brown fox jumps over the lazy dog.',
  "don't won't I'm you're we've they'll she'd IT'S 'S 'LL 'Re 'rE 'vE 'Ll 'lL",
  "'s at the start, rock 'n' roll, O'Neil's, ''quoted'' and ' lone",
  'function add(a, b) {\n  return a + b;\n}\n',
  'const x = arr.map((v) => v * 2).filter(Boolean); // comment\n\tif (x?.length >= 10) { throw new Error(`bad ${x}`); }',
  'def f(x):\n    """Docstring."""\n    return {k: v for k, v in x.items() if v is not None}\n',
  '{"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 256, "temperature": 0.2}',
  '[1, 2.5, -3e10, null, true, false, "\\u00e9\\n"]',
  '   leading spaces',
  'trailing spaces   ',
  'a  b   c    d\t\te\t \tf',
  '\n',
  '\n\n\n',
  '\r\n\r\n',
  'line one\nline two\r\nline three\n\n\nline six\n \n  \n',
  ' \n x',
  '    \n    indented after blank',
  ' '.repeat(100),
  '\t'.repeat(20) + 'x',
  '0',
  '12',
  '123',
  '1234567',
  '3.14159265358979',
  'Call 555-0123 or +1 (800) 555 0199 before 2026-12-31T23:59:59Z.',
  '١٢٣٤ ٥٦٧ ٨٩٠ ²³ ½ Ⅻ',
  '😀',
  '😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ ✅',
  'emoji in text 🎉 party! and 🚀 launch',
  '我能吞下玻璃而不伤身体。',
  '人工智能网关是一个位于应用程序和多个大型语言模型提供商之间的服务。它根据成本、延迟和质量等策略为每个请求选择合适的提供商。',
  '日本語のテキスト、カタカナとひらがな。한국어 텍스트도 있습니다.',
  'Шлюз искусственного интеллекта находится между приложениями и поставщиками моделей.',
  'Привет, мир! Как дела? Ёлка, ЁЖИК, ёж.',
  'مرحبا بالعالم! هذه جملة باللغة العربية، مع علامات ترقيم.',
  'שלום עולם',
  'Ελληνικά κείμενα με τόνους: ά έ ή ί ό ύ ώ',
  'naïve café résumé façade Zürich Straße ÆØÅ œuvre',
  'हिन्दी पाठ और देवनागरी',
  '...!!!???;;;:::---___===+++***&&&%%%$$$###@@@',
  '<<>>[[]]{{}}(())||\\\\//``~~^^',
  '--> <!-- html --> <div class="x">text</div>',
  '<|endoftext|> <|fim_prefix|><|fim_middle|><|fim_suffix|> <|endofprompt|>',
  'https://example.com/path/to/page?query=1&other=two#anchor',
  'user@example.com, "quoted", (parens), [brackets]',
  'aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQgZW5jb2RlZCB0ZXh0IHdpdGhvdXQgc3BhY2VzIGF0IGFsbA==',
  'x'.repeat(300),
  'ab'.repeat(500),
  '中'.repeat(200),
  'Ё'.repeat(100),
  'lone surrogates \ud800 and \udfff and reversed \udc00\ud800 pair',
  '\u0000\u0001\u001f\u007f control \u0085 nel \u00a0nbsp \u2028 ls \u200b zwsp \ufeff bom',
  "mixed: Hello 世界 мир 🌍 مرحبا 123 don't\n\tfoo_bar(baz);",
];

/** mulberry32: a small seeded generator, so a failure names an input that can be rerun. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FRAGMENTS: Record<string, readonly string[]> = {
  english: ['the', 'The', ' gateway', 'routes', ' requests', 'quickly', ' A', 'I', 'tokenizer', 'HTTP', 'iPhone'],
  code: ['{', '}', '();', ' => ', '!==', '//', '/*', '*/', '::', '->', 'x_1', '__init__', '$var', '@Decorator'],
  json: ['{"a":', '"key"', ': ', '[1,2]', 'null', 'true', ',"n":-0.5e3}', '\\"', '\\n'],
  whitespace: [' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', ' \n', '\n ', '\u00a0', '\u3000', '\f', '\v'],
  digits: ['0', '7', '42', '123', '2026', '99999', '3.14', '1,000,000', '٣', '٤٥'],
  emoji: ['😀', '👍', '👍🏽', '🎉', '🇯🇵', '👩‍💻', '❤️', '🚀', '\u{1F9D1}\u200D\u{1F52C}'],
  cjk: ['我', '能吞下', '玻璃', '。', '、', '日本語', 'カタカナ', 'ひらがな', '한국어', '中文字符'],
  cyrillic: ['Привет', 'мир', 'ЁЖ', 'ёж', 'Шлюз', 'поставщик', 'ИИ'],
  arabic: ['مرحبا', 'بالعالم', '،', 'العربية', 'ـ', 'ﷺ'],
  punctuation: ['.', ',', '!', '?', '...', '—', '–', '«', '»', '“', '”', '‘', '’', '¿', '¡', '…', '·', '§', '©'],
  contractions: ["'s", "'S", "'t", "'re", "'RE", "'ve", "'m", "'ll", "'LL", "'d", "'D", "'", "''", "n't", "'x"],
  special: ['<|endoftext|>', '<|endofprompt|>', '<|', '|>', '<|fim_prefix|>'],
};
const CLASSES = Object.keys(FRAGMENTS);

function randomCodePoint(random: () => number): string {
  const r = random();
  if (r < 0.5) {
    return String.fromCharCode(0x20 + Math.floor(random() * 0x5f));
  }
  if (r < 0.8) {
    return String.fromCharCode(Math.floor(random() * 0x10000)); // any UTF-16 unit, lone surrogates included
  }
  return String.fromCodePoint(0x10000 + Math.floor(random() * 0x100000));
}

function randomString(random: () => number): string {
  const pieces = 1 + Math.floor(random() * 12);
  let out = '';
  for (let i = 0; i < pieces; i++) {
    if (random() < 0.1) {
      out += randomCodePoint(random);
      continue;
    }
    const pool = FRAGMENTS[CLASSES[Math.floor(random() * CLASSES.length)]];
    const fragment = pool[Math.floor(random() * pool.length)];
    out += random() < 0.15 ? fragment.repeat(2 + Math.floor(random() * 6)) : fragment;
    if (random() < 0.3) {
      out += ' ';
    }
  }
  return out;
}

describe('BytePairEncoder (cl100k_base) against js-tiktoken', () => {
  it('produces the same tokens for a varied fixed corpus', () => {
    expect(mismatches(CORPUS)).toEqual([]);
    expect(encoder.count('hello world')).toBe(2);
  });

  it('produces the same tokens for 4,000 seeded random mixes of scripts, code, emoji and whitespace', () => {
    const random = seeded(20261202);
    const texts: string[] = [];
    for (let i = 0; i < 4000; i++) {
      texts.push(randomString(random));
    }
    expect(mismatches(texts)).toEqual([]);
  });

  it('produces the same tokens for a long mixed document', () => {
    const random = seeded(7);
    let text = '';
    while (text.length < 20_000) {
      text += randomString(random) + (random() < 0.2 ? '\n\n' : ' ');
    }
    expect(mismatches([text])).toEqual([]);
  });
});

describe('BytePairEncoder merge rules', () => {
  // A toy rank file: bytes a, b, c, then "aa" and "abc" (base64 of each); pieces are runs of non-space.
  const toy = new BytePairEncoder({ pat_str: '\\S+|\\s+', bpe_ranks: 'toy 0 YQ== Yg== Yw== IA== YWE= YWJj' });

  it('keeps a piece whole when it is a token, though no pair inside it is', () => {
    expect(toy.encode('abc')).toEqual([5]);
    expect(toy.encode('abca')).toEqual([0, 1, 2, 0]);
  });

  it('merges the leftmost pair when ranks tie', () => {
    expect(toy.encode('aaa')).toEqual([4, 0]);
    expect(toy.encode('aaaa')).toEqual([4, 4]);
    expect(toy.count('aaa aaa')).toBe(5);
  });

  it('refuses rank files it cannot represent', () => {
    expect(() => new BytePairEncoder({ pat_str: '\\S+', bpe_ranks: 'x 1 YQ==' })).toThrow(/not 0 to 0/);
    expect(() => new BytePairEncoder({ pat_str: '\\S+', bpe_ranks: 'x 0 YQ== Y!==' })).toThrow(/not base64/);
    expect(() => new BytePairEncoder({ pat_str: '\\S+', bpe_ranks: 'x 0 YQ== YQ==' })).toThrow(/repeats/);
    expect(() => new BytePairEncoder({ pat_str: '\\S+', bpe_ranks: 'x 0 YQ==\ny 0 Yg==\nz 2 Yw==' })).toThrow(/twice/);
  });
});
