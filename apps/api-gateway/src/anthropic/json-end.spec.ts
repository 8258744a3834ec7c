import { JsonEnd } from './json-end';

function closedAfter(fragments: string[]): boolean[] {
  const end = new JsonEnd();
  return fragments.map((f) => {
    end.add(f);
    return end.closed();
  });
}

describe('JsonEnd', () => {
  it('is closed once the top-level object closes, fragment by fragment, and stays so through whitespace', () => {
    expect(closedAfter(['', '{"city":', '"Oslo"', ',"days":[1,{"a":2}]', '}', ' \n'])).toEqual([
      false,
      false,
      false,
      false,
      true,
      true,
    ]);
    expect(closedAfter(['[1,', '2]'])).toEqual([false, true]);
  });

  it('is not fooled by braces, brackets and escaped quotes inside strings', () => {
    expect(closedAfter(['{"q":"} ] \\"', ' {', '\\\\', '"', '}'])).toEqual([false, false, false, false, true]);
  });

  it('never calls closed what cannot be one whole object: a bare value, or text after the end', () => {
    expect(closedAfter(['"text"', '{}'])).toEqual([false, false]);
    expect(closedAfter(['42'])).toEqual([false]);
    expect(closedAfter(['{}', 'x', '}'])).toEqual([true, false, false]);
    expect(closedAfter(['{}}'])).toEqual([false]);
  });
});
