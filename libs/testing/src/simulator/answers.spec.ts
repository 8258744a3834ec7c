import { AnswerBook, contentText, echoAnswer, estimateTokens } from './answers';

describe('AnswerBook', () => {
  it('builds an answer of exactly completionTokens tokens', () => {
    const book = new AnswerBook(7);
    const a = book.get(null);
    expect(a.length).toBe(7);
    expect(a.text).toBe(a.tokens.join(''));
    expect(JSON.parse(a.textJson)).toBe(a.text);
    expect(a.tokenJson.map((t) => JSON.parse(t) as string)).toEqual(a.tokens);
  });

  it('caps at max_tokens with a prefix of the full answer and reuses it', () => {
    const book = new AnswerBook(10);
    const capped = book.get(3);
    expect(capped.length).toBe(3);
    expect(book.get(null).text.startsWith(capped.text)).toBe(true);
    expect(book.get(3)).toBe(capped);
    expect(book.get(50)).toBe(book.get(null));
  });

  it('rebuilds on resize', () => {
    const book = new AnswerBook(4);
    book.resize(9);
    expect(book.get(null).length).toBe(9);
  });

  it('supports an empty answer', () => {
    expect(new AnswerBook(0).get(null).text).toBe('');
  });
});

describe('echoAnswer', () => {
  it.each(['hello world', '  leading and trailing  ', 'one', '', '   ', 'tabs\tand\nnewlines "quoted" \u00e9'])(
    'reassembles %p exactly',
    (text) => {
      const a = echoAnswer(text);
      expect(a.text).toBe(text);
      expect(a.tokens.join('')).toBe(text);
    },
  );

  it('gives one token per word', () => {
    expect(echoAnswer('a bb ccc').tokens).toEqual(['a', ' bb', ' ccc']);
  });
});

describe('estimateTokens', () => {
  it('is about chars/4 and at least one', () => {
    expect(estimateTokens(0)).toBe(1);
    expect(estimateTokens(4)).toBe(1);
    expect(estimateTokens(5)).toBe(2);
    expect(estimateTokens(400)).toBe(100);
  });
});

describe('contentText', () => {
  it('reads strings and the text parts of part lists', () => {
    expect(contentText('hi')).toBe('hi');
    expect(
      contentText([
        { type: 'text', text: 'a' },
        { type: 'image_url', image_url: {} },
        { type: 'text', text: 'b' },
      ]),
    ).toBe('ab');
    expect(contentText(null)).toBe('');
    expect(contentText(42)).toBe('');
  });
});
