import type { StringKind } from '../rules.js';

/**
 * The catalogue of characters the contract's string fields are tested with, shared by the JSON
 * path (validate.unit.test.ts) and the topic path (codec.unit.test.ts) so both try the same ones.
 */

const ALL: readonly StringKind[] = ['id', 'name', 'text'];
const IDS_AND_NAMES: readonly StringKind[] = ['id', 'name'];

/** A value that breaks the rules for the kinds in `badFor` and keeps them for the others. */
export interface CharacterCase {
  name: string;
  value: string;
  badFor: readonly StringKind[];
}

export const CHARACTER_CASES: readonly CharacterCase[] = [
  { name: 'NUL (U+0000)', value: 'a\u0000b', badFor: ALL },
  { name: 'NUL alone', value: '\u0000', badFor: ALL },
  { name: 'a lone high surrogate (U+D800)', value: 'a\ud800b', badFor: ALL },
  { name: 'a lone high surrogate at the end (U+DBFF)', value: 'ab\udbff', badFor: ALL },
  { name: 'a lone low surrogate (U+DC00)', value: '\udc00ab', badFor: ALL },
  { name: 'a surrogate pair in the wrong order', value: 'a\ude00\ud83d', badFor: ALL },
  { name: 'BEL (U+0007, C0)', value: 'a\u0007b', badFor: ALL },
  { name: 'ESC (U+001B, C0)', value: '\u001b[31mred', badFor: ALL },
  { name: 'a vertical tab (U+000B, C0)', value: 'a\u000bb', badFor: ALL },
  { name: 'U+001F (C0)', value: 'a\u001f', badFor: ALL },
  { name: 'DEL (U+007F)', value: 'a\u007fb', badFor: ALL },
  { name: 'NEL (U+0085, C1)', value: 'a\u0085b', badFor: ALL },
  { name: 'U+0080 (C1)', value: '\u0080a', badFor: ALL },
  { name: 'U+009F (C1)', value: 'a\u009f', badFor: ALL },
  { name: 'a tab', value: 'a\tb', badFor: IDS_AND_NAMES },
  { name: 'a line feed', value: 'a\nb', badFor: IDS_AND_NAMES },
  { name: 'a carriage return and line feed', value: 'a\r\nb', badFor: IDS_AND_NAMES },
  // Not control characters, and storable exactly: accepted everywhere.
  { name: 'U+FFFD itself', value: 'a\ufffdb', badFor: [] },
  { name: 'the noncharacters U+FFFE and U+FFFF', value: 'a\ufffe\uffffb', badFor: [] },
  { name: 'U+FEFF, a zero-width space and a bidi override inside', value: 'a\ufeff\u200b\u202eb', badFor: [] },
  { name: 'emoji, CJK and combining marks', value: '\u{1f600}日本e\u0301', badFor: [] },
  { name: 'the last code point (U+10FFFF)', value: 'a\u{10ffff}', badFor: [] },
  { name: 'U+00A0 and U+2028 inside', value: 'a\u00a0\u2028b', badFor: [] },
];

/** Every field of a JSON event holding a string, and its kind (tenant_id is never in JSON). */
export const JSON_STRING_FIELDS = {
  event_id: 'id',
  session_id: 'id',
  agent_id: 'id',
  team_id: 'id',
  voids_event_id: 'id',
  provider: 'name',
  model: 'name',
  tool_name: 'name',
  error: 'text',
  reason: 'text',
} as const satisfies Record<string, StringKind>;
