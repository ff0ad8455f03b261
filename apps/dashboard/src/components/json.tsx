export { short } from '../format.js';

/** Pretty JSON, in a scrolling block. */
export function Json({ value, class: cls }: { value: unknown; class?: string }) {
  return <pre class={`json ${cls ?? ''}`}>{JSON.stringify(value, null, 2) ?? 'undefined'}</pre>;
}
