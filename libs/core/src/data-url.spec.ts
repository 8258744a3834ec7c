import {
  dataUrlOf,
  isBase64,
  isDataUrl,
  isRemoteImageUrl,
  plainTextOf,
  unwrappedBase64,
  withUnwrappedBase64,
} from './data-url';

describe('dataUrlOf', () => {
  it('splits a base64 data URL into its MIME type and data', () => {
    expect(dataUrlOf('data:image/png;base64,iVBORw0KGgo=')).toEqual({ mimeType: 'image/png', base64: 'iVBORw0KGgo=' });
  });

  it('takes MIME parameters before ;base64 and any case of the token (RFC 2397), keeping the bare type', () => {
    // Both failed to match before: Anthropic and Gemini were sent the data URL as an image URL to fetch, Ollama
    // refused it as "not a data URL".
    expect(dataUrlOf('data:image/jpeg;name=photo.jpg;base64,/9j/4AA=')).toEqual({
      mimeType: 'image/jpeg',
      base64: '/9j/4AA=',
    });
    expect(dataUrlOf('data:Image/PNG;charset=binary;BASE64,iVBO')).toEqual({ mimeType: 'image/png', base64: 'iVBO' });
    expect(dataUrlOf('DATA:image/webp;Base64,UklG')).toEqual({ mimeType: 'image/webp', base64: 'UklG' });
  });

  it('is null for other URLs, and for data URLs that are not base64 or name no type', () => {
    expect(dataUrlOf('https://example.com/a.png')).toBeNull();
    expect(dataUrlOf('data:image/svg+xml,%3Csvg%3E')).toBeNull();
    expect(dataUrlOf('data:;base64,iVBO')).toBeNull();
    expect(dataUrlOf('data:image/png;name=a;b.png,iVBO')).toBeNull();
  });
});

describe('dataUrlOf on hostile input', () => {
  // A regular expression with a repeated group (`(?:;[^;,]*)*;base64,`) backtracked over a header of semicolons:
  // 2 MB took 300-1000 ms on the gateway's event loop, 4 MB threw RangeError (a 500).
  // No time limit is asserted (shared hosts are noisy; the old pattern took 0.3-1 s at 2 MB). What a test can pin is that
  // the answer comes without a stack overflow, and that only a bounded prefix is read (below).
  it('reads a header of millions of semicolons without throwing', () => {
    for (const built of ['data:a' + ';'.repeat(2_000_000), 'data:a' + ';'.repeat(4_000_000) + 'base64,aGk=']) {
      // A flat string, as JSON.parse gives the gateway one (`repeat` builds a rope that the first slice would copy).
      const url = JSON.parse(JSON.stringify(built)) as string;
      expect(dataUrlOf(url)).toBeNull();
    }
  });

  it('looks for the header in a bounded prefix only', () => {
    expect(dataUrlOf(`data:image/png;${'x'.repeat(10_000)};base64,aGk=`)).toBeNull();
    expect(dataUrlOf('data:image/png')).toBeNull();
    expect(dataUrlOf('data:image/png;base64')).toBeNull();
    expect(dataUrlOf('data: ;base64,aGk=')).toBeNull();
    expect(dataUrlOf('data:image/png;base64,a,b')).toEqual({ mimeType: 'image/png', base64: 'a,b' });
  });
});

describe('dataUrlOf media types', () => {
  it('reads image/jpg as image/jpeg, the type Claude and Gemini take', () => {
    expect(dataUrlOf('data:image/jpg;base64,/9j/')).toEqual({ mimeType: 'image/jpeg', base64: '/9j/' });
  });
});

describe('isBase64', () => {
  it('takes the standard alphabet, padded or not', () => {
    expect(isBase64('iVBORw0KGgo=')).toBe(true);
    expect(isBase64('aGk=')).toBe(true);
    expect(isBase64('aGk')).toBe(true);
    expect(isBase64('aA==')).toBe(true);
    expect(isBase64('aA')).toBe(true);
  });

  it('takes base64 wrapped in lines, as the base64 CLI and Python write it (\\n or \\r\\n)', () => {
    // Refused before, though Ollama (Go) and Python servers decode it.
    const wrapped = Buffer.alloc(120, 7).toString('base64').replace(/.{76}/g, '$&\n') + '\n';
    expect(isBase64(wrapped)).toBe(true);
    expect(isBase64(wrapped.replace(/\n/g, '\r\n'))).toBe(true);
    expect(isBase64('aGk=\n')).toBe(true);
  });

  it('refuses empty text, other characters, other whitespace and misplaced or excess padding', () => {
    for (const bad of [
      '',
      '\n',
      '\r\n',
      'aGk=\t',
      'aG k=',
      'a=Gk',
      'aA\n==\n=',
      'aA===',
      'a',
      'aGkaG',
      '-_-_',
      '%%%',
    ]) {
      expect(isBase64(bad)).toBe(false);
    }
  });

  it('reads padding back from the end past line breaks as an unwrapped copy would (every short string)', () => {
    // The definition on an unwrapped copy, which isBase64 no longer makes.
    const reference = (text: string): boolean => {
      const data = text.replace(/[\r\n]/g, '');
      const pad = data.indexOf('=');
      const body = pad === -1 ? data.length : pad;
      return data.length > 0 && data.length - body <= 2 && /^=*$/.test(data.slice(body)) && body % 4 !== 1;
    };
    const alphabet = ['a', '=', '\n', '\r'];
    let texts = [''];
    for (let len = 1; len <= 7; len++) {
      texts = texts.flatMap((t) => alphabet.map((c) => t + c));
      for (const text of texts) {
        expect([text, isBase64(text)]).toEqual([text, reference(text)]);
      }
    }
  });
});

describe('unwrappedBase64', () => {
  it('drops line breaks, returning the same string when there are none', () => {
    expect(unwrappedBase64('aGVs\r\nbG8=\n')).toBe('aGVsbG8=');
    const plain = 'aGVsbG8=';
    expect(unwrappedBase64(plain)).toBe(plain);
  });

  it("unwraps a content part's base64 (image and file data URLs, audio), leaving other parts as they are", () => {
    const image = {
      type: 'image_url' as const,
      image_url: { url: 'data:image/png;base64,iVBO\nRw0K\n', detail: 'low' as const },
    };
    expect(withUnwrappedBase64(image)).toEqual({
      type: 'image_url',
      image_url: { url: 'data:image/png;base64,iVBORw0K', detail: 'low' },
    });
    expect(image.image_url.url).toBe('data:image/png;base64,iVBO\nRw0K\n');
    expect(
      withUnwrappedBase64({
        type: 'file',
        file: { file_data: 'data:application/pdf;base64,JVBE\r\nRi0x', filename: 'a.pdf' },
      }),
    ).toEqual({ type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0x', filename: 'a.pdf' } });
    expect(withUnwrappedBase64({ type: 'input_audio', input_audio: { data: 'UklG\nRg==', format: 'wav' } })).toEqual({
      type: 'input_audio',
      input_audio: { data: 'UklGRg==', format: 'wav' },
    });
    for (const same of [
      { type: 'text' as const, text: 'a\nb' },
      { type: 'image_url' as const, image_url: { url: 'https://example.com/a\n.png' } },
      { type: 'image_url' as const, image_url: { url: 'data:image/png;base64,iVBO' } },
      { type: 'file' as const, file: { file_id: 'file-1' } },
    ]) {
      expect(withUnwrappedBase64(same)).toBe(same);
    }
  });
});

describe('isDataUrl and isRemoteImageUrl', () => {
  it('tell a data URL (scheme in any case) from an http(s) URL to fetch (scheme in any case, parseable)', () => {
    expect(isDataUrl('data:image/png;base64,iVBO')).toBe(true);
    expect(isDataUrl('DATA:image/png;base64,iVBO')).toBe(true);
    expect(isDataUrl('https://example.com/data:x')).toBe(false);
    for (const url of ['https://example.com/cat.png', 'HTTPS://example.com/cat.png', 'Http://127.0.0.1:8080/a?b=c']) {
      expect(isRemoteImageUrl(url)).toBe(true);
    }
    for (const url of [
      'ftp://example.com/cat.png',
      'cat.png',
      'https://',
      'https://exa mple.com/',
      'data:image/png;base64,iVBO',
    ]) {
      expect(isRemoteImageUrl(url)).toBe(false);
    }
  });
});

describe('plainTextOf', () => {
  it('decodes a text/plain data URL as UTF-8, and nothing else', () => {
    const b64 = Buffer.from('héllo\n', 'utf8').toString('base64');
    expect(plainTextOf(`data:text/plain;base64,${b64}`)).toBe('héllo\n');
    expect(plainTextOf(`data:TEXT/plain;name=a.txt;base64,${b64}`)).toBe('héllo\n');
    expect(plainTextOf(`data:application/pdf;base64,${b64}`)).toBeUndefined();
    expect(plainTextOf('https://example.com/a.txt')).toBeUndefined();
  });
});
