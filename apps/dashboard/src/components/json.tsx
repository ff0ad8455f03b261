/** Pretty JSON, in a scrolling block. */
export function Json({ value, class: cls }: { value: unknown; class?: string }) {
  return <pre class={`json ${cls ?? ''}`}>{JSON.stringify(value, null, 2) ?? 'undefined'}</pre>;
}

/** One line of JSON, cut to `max` characters. */
export function short(value: unknown, max = 80): string {
  const s = typeof value === 'string' ? value : JSON.stringify(value) ?? '';
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}
