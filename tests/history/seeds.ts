/**
 * Which seeds the history checker runs: TL_HISTORY_SEEDS="1,2,3" names them; otherwise
 * TL_HISTORY_SEED_COUNT (default 3) seeds from TL_HISTORY_FIRST_SEED (default 1).
 * scripts/test-history.sh turns `--seeds N --first S` into these.
 */
export function historySeeds(env: Record<string, string | undefined> = process.env): number[] {
  const whole = (name: string, text: string): number => {
    if (!/^\d{1,9}$/.test(text.trim())) throw new Error(`${name}: expected whole numbers, got "${text}"`);
    return Number(text.trim());
  };
  const list = env['TL_HISTORY_SEEDS']?.trim();
  if (list) return list.split(',').filter((s) => s.trim() !== '').map((s) => whole('TL_HISTORY_SEEDS', s));
  const count = whole('TL_HISTORY_SEED_COUNT', env['TL_HISTORY_SEED_COUNT']?.trim() || '3');
  const first = whole('TL_HISTORY_FIRST_SEED', env['TL_HISTORY_FIRST_SEED']?.trim() || '1');
  return Array.from({ length: count }, (_, i) => first + i);
}
