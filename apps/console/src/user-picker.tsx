import { useEffect, useId, useState } from 'preact/hooks';
import { api, qs } from './api';
import { useLoad } from './hooks';
import type { UserItem } from './types';

/** Users a picker offers at once: the first matches; typing more narrows them. */
export const PICKER_LIMIT = 20;
/** Typing pauses this long before the gateway is asked: one request per pause, not one per key. */
export const PICKER_DEBOUNCE_MS = 250;

interface Matches {
  /** What was asked: the answer to an older text is not shown under a newer one. */
  text: string;
  users: UserItem[];
  more: boolean;
}

/**
 * A user chosen by the start of their name: the gateway finds them (`GET /admin/users?q&limit`), so a picker never
 * loads every user. Shows the chosen user's name; typing forgets the choice until another is made. `id` and the aria
 * attributes come from the Field around it, for its label.
 */
export function UserPicker({
  value,
  onChange,
  placeholder = 'Type a name',
  id,
  'aria-describedby': describedBy,
  'aria-invalid': invalid,
}: {
  value: UserItem | null;
  onChange: (user: UserItem | null) => void;
  placeholder?: string;
  id?: string;
  'aria-describedby'?: string;
  'aria-invalid'?: 'true';
}) {
  const listId = useId();
  const [text, setText] = useState(value?.name ?? '');
  const [open, setOpen] = useState(false);
  // The highlighted option, of the answer it was moved in: each new answer starts again at its first.
  const [highlight, setHighlight] = useState<{ of: Matches | undefined; index: number }>({ of: undefined, index: 0 });

  // A choice made elsewhere (a user just created) shows its name.
  useEffect(() => {
    if (value !== null) {
      setText(value.name);
    }
  }, [value?.id]);

  // Asked only while the list is open; an error stays until an answer comes.
  const found = useLoad(
    async (signal): Promise<Matches> => {
      const page = await api<{ data: UserItem[]; nextCursor: string | null }>(
        `/api/v1/ai/admin/users${qs({ q: text, limit: PICKER_LIMIT })}`,
        { signal },
      );
      return { text, users: page.data, more: page.nextCursor !== null };
    },
    [text],
    { enabled: open, debounceMs: PICKER_DEBOUNCE_MS },
  );
  const matches = found.data;
  const error = found.state === 'ok' ? null : (found.error ?? null);
  const active = highlight.of === matches ? highlight.index : 0;
  const setActive = (next: (index: number) => number) =>
    setHighlight((h) => ({ of: matches, index: next(h.of === matches ? h.index : 0) }));

  // The last answer stays while the next is awaited (they are users all the same): no flicker on each key.
  const shown = open ? (matches ?? null) : null;
  const choose = (u: UserItem) => {
    setText(u.name);
    setOpen(false);
    onChange(u);
  };
  // Enter pressed while the list still answers an older text (a name typed and Enter at once, within the pause before
  // the gateway is asked): the choice waits for the answer to the text typed, rather than take a user of the list
  // shown, whose name may not even start with it.
  const [enterFor, setEnterFor] = useState<string | null>(null);
  useEffect(() => {
    if (enterFor === null || matches?.text !== enterFor) {
      return;
    }
    setEnterFor(null);
    // Not seen before it was chosen: the user of that very name, in any case, else the first whose name starts so.
    const typed = enterFor.trim().toLowerCase();
    const user = matches.users.find((u) => u.name.toLowerCase() === typed) ?? matches.users[0];
    if (user !== undefined) {
      choose(user);
    }
  }, [matches, enterFor]);
  const optionId = (i: number) => `${listId}-${i}`;
  const expanded = open && (shown !== null || error !== null);

  return (
    <div class="picker">
      <input
        id={id}
        role="combobox"
        aria-autocomplete="list"
        aria-expanded={expanded ? 'true' : 'false'}
        aria-controls={listId}
        aria-activedescendant={shown !== null && shown.users.length > 0 ? optionId(active) : undefined}
        aria-describedby={describedBy}
        aria-invalid={invalid}
        autocomplete="off"
        spellcheck={false}
        placeholder={placeholder}
        value={text}
        data-user-id={value?.id}
        onFocus={(e) => {
          e.currentTarget.select();
          setOpen(true);
        }}
        onBlur={() => {
          setOpen(false);
          setEnterFor(null);
        }}
        onInput={(e) => {
          setText(e.currentTarget.value);
          setEnterFor(null);
          setOpen(true);
          if (value !== null) {
            onChange(null);
          }
        }}
        onKeyDown={(e) => {
          const count = shown?.users.length ?? 0;
          if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
            e.preventDefault();
            setOpen(true);
            if (count > 0) {
              setActive((a) => (a + (e.key === 'ArrowDown' ? 1 : count - 1)) % count);
            }
          } else if (e.key === 'Enter' && open && (shown === null || shown.text !== text)) {
            e.preventDefault();
            setEnterFor(text);
          } else if (e.key === 'Enter' && shown !== null && count > 0) {
            // Choosing, not submitting the form around the picker.
            e.preventDefault();
            choose(shown.users[Math.min(active, count - 1)]);
          } else if (e.key === 'Escape' && open) {
            e.preventDefault();
            setOpen(false);
          }
        }}
      />
      <div class="picker-pop" hidden={!expanded} aria-busy={shown !== null && shown.text !== text ? 'true' : undefined}>
        <div id={listId} role="listbox" aria-label="Names found">
          {shown?.users.map((u, i) => (
            <div
              key={u.id}
              id={optionId(i)}
              role="option"
              aria-selected={i === active ? 'true' : 'false'}
              data-user-id={u.id}
              // Before the input's blur, which would close the list under the click.
              onMouseDown={(e) => e.preventDefault()}
              onClick={() => choose(u)}
            >
              {u.name}
            </div>
          ))}
        </div>
        {shown !== null && shown.users.length === 0 && (
          <p class="picker-note">
            {shown.text === '' ? 'No user yet.' : `No user's name starts with “${shown.text}”.`}
          </p>
        )}
        {shown?.more && <p class="picker-note">The first {PICKER_LIMIT} only: type more of the name.</p>}
        {error !== null && <p class="picker-note field-error">{error}</p>}
      </div>
    </div>
  );
}
